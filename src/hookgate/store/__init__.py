"""Durable storage of the delivery engine: one interface (`hookgate.store.base.Store`), three backends."""
