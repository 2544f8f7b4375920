//! What the thread model pays per client before it reads a byte: creating and ending a
//! thread. `cargo bench -p lab-concurrent --bench spawn`; compare with the C figure of
//! `../shared/perf/forkbench` (`pthread_create_join_us`), run in the same session.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::thread;

fn main() {
    divan::main();
}

/// `std::thread` spawn and join of an empty thread, with the thread model's stack
/// size. Besides `clone`, std sets up a guard and an alternate signal stack for each
/// thread (sigaltstack, mmap, mprotect, munmap), which C's pthread_create does not.
#[divan::bench(args = [64 * 1024, 256 * 1024], sample_count = 200, sample_size = 10)]
fn spawn_and_join(stack: usize) {
    thread::Builder::new()
        .stack_size(stack)
        .spawn(|| {})
        .expect("spawn")
        .join()
        .expect("join");
}
