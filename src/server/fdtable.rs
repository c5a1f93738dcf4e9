//! The process's descriptor table, sized once at start-up.
//!
//! Linux grows a process's descriptor table by doubling it when a new descriptor does not fit
//! (at 256, 512, …, 8192 open files). In a multi-threaded process every growth waits for an RCU
//! grace period before the old table is freed, and no thread can open a descriptor meanwhile:
//! measured here, each doubling stalled `accept` for 10–20 ms, so the connections arriving at
//! those moments waited that long for their first byte (`docs/BENCHMARKS.md`, connection
//! set-up). Growing the table once, before the first connection, removes every later growth.
//! The kernel keeps 8 bytes per slot plus two bits, so the size is capped.

use std::io;

/// Largest table sized in advance: 262,144 slots, about 2 MiB of kernel memory. A process
/// allowed more open files still grows beyond it, by doubling, when it gets there.
pub const MAX_PRESIZED: u64 = 1 << 18;

/// Grows the descriptor table to hold at least `descriptors` (capped at [`MAX_PRESIZED`] and
/// below the open-file limit `limit`), by duplicating a descriptor to the top slot and closing
/// it. Returns the number of slots asked for.
pub fn presize(descriptors: u64, limit: u64) -> io::Result<u64> {
    let slots = slots(descriptors, limit);
    if slots <= 1024 {
        // A table this small costs at most one or two growths; leave it to the kernel.
        return Ok(slots);
    }
    let top = i32::try_from(slots - 1).map_err(io::Error::other)?;
    let null = std::fs::File::open("/dev/null")?;
    let high = rustix::io::fcntl_dupfd_cloexec(&null, top)?;
    drop(high);
    Ok(slots)
}

/// The slots to ask for: `descriptors`, capped at [`MAX_PRESIZED`] and at the limit.
fn slots(descriptors: u64, limit: u64) -> u64 {
    descriptors.min(MAX_PRESIZED).min(limit)
}

/// The size of this process's descriptor table (`FDSize` in `/proc/self/status`).
pub fn table_size() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("FDSize:"))
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_the_asked_descriptors_at_once() {
        let limit = rlimit::increase_nofile_limit(20_000).expect("the open-file limit");
        assert!(
            limit > 4096,
            "this test needs an open-file limit above 4096, got {limit}"
        );
        let want = limit.min(16_384);
        let slots = presize(want, limit).expect("presized");
        assert_eq!(slots, want);
        let size = table_size().expect("FDSize in /proc/self/status");
        assert!(size >= want, "FDSize {size} < {want}");
    }

    #[test]
    fn the_size_is_capped_and_small_tables_are_left_alone() {
        assert_eq!(slots(u64::MAX, u64::MAX), MAX_PRESIZED);
        assert_eq!(slots(50_000, 20_000), 20_000);
        assert_eq!(slots(5_000, 1 << 20), 5_000);
        assert_eq!(presize(10, 1 << 30).expect("nothing to do"), 10);
    }
}
