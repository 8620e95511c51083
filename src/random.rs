//! Random numbers from the OS generator, for the cores (IV and CTR starts, SSRCs).

/// A random u64. The OS generator only fails on systems without one; then the clock
/// and the address of a local stand in, so that at least instances still differ.
pub(crate) fn random_u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        let local = 0u8;
        nanos ^ (&local as *const u8 as u64).rotate_left(32)
    })
}
