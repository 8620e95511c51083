//! Locking that survives a panic, for every layer (elements, key store).

/// Locks a mutex; a panic elsewhere while it was held does not stop the stream.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
