//! How long the Raft log's fsyncs wait while a snapshot is written beside them on
//! the same disk. Every write to the cluster waits for a log fsync, so a snapshot
//! that holds them back holds back every request (issue 10: snapshots without
//! stalls).
//!
//!     cargo build --release -p ostium-bench --bin snapshot_write
//!     cd DATA_DISK && $CARGO_TARGET_DIR/release/snapshot_write \
//!       [--megabytes 400] [--megabytes-per-second 70] [--rounds 2]
//!
//! A log thread appends 4 KiB and syncs it (`fdatasync`), as an append to the log
//! does, again and again. Meanwhile a snapshot of `--megabytes` (400: about a
//! million live families) is written in 64 KiB writes at no more than
//! `--megabytes-per-second` (70: about the rate a node reads its records out at;
//! 0 for as fast as the disk takes them), each way in turn:
//! - `none`: no snapshot, the log alone for five seconds;
//! - `synced every 8 MiB`: `fdatasync` after every 8 MiB, as releases before
//!   `store/paced.rs` wrote snapshots;
//! - `paced`: through `ostium_state::store::paced::PacedFile`, as a node writes one
//!   now.
//!
//! For each it prints how long the snapshot took and the log fsyncs' count, p50,
//! p99 and max. The files go to a scratch directory in the current directory, so
//! run it on the disk that holds the data directory.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ostium_bench::argument;
use ostium_bench::load::quantile;
use ostium_state::store::paced::PacedFile;

const WRITE: usize = 64 << 10;
const SYNCED_STEP: u64 = 8 << 20;
const ALONE: Duration = Duration::from_secs(5);

#[derive(Clone, Copy)]
enum Way {
    None,
    SyncedSteps,
    Paced,
}

impl Way {
    fn name(self) -> &'static str {
        match self {
            Way::None => "none",
            Way::SyncedSteps => "synced every 8 MiB",
            Way::Paced => "paced",
        }
    }
}

/// The snapshot to write: its size and the rate it is made at.
#[derive(Clone, Copy)]
struct Snapshot {
    megabytes: usize,
    per_second: usize,
}

fn main() -> io::Result<()> {
    let snapshot = Snapshot {
        megabytes: argument("--megabytes", 400),
        per_second: argument("--megabytes-per-second", 70),
    };
    let rounds = argument("--rounds", 2);
    let dir = tempfile::tempdir_in(".")?;
    println!(
        "a snapshot of {} MB made at {} MB/s (0: as fast as the disk takes it), beside a \
         log that appends 4 KiB and syncs, in a loop",
        snapshot.megabytes, snapshot.per_second
    );
    println!();
    println!("| round | snapshot | written in s | log fsyncs | p50 ms | p99 ms | max ms |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    for round in 1..=rounds {
        for way in [Way::None, Way::SyncedSteps, Way::Paced] {
            let (took, mut waits) = measure(dir.path(), snapshot, way)?;
            waits.sort_unstable();
            println!(
                "| {round} | {} | {:.1} | {} | {:.2} | {:.2} | {:.2} |",
                way.name(),
                took.as_secs_f64(),
                waits.len(),
                quantile(&waits, 0.5),
                quantile(&waits, 0.99),
                quantile(&waits, 1.0),
            );
        }
    }
    Ok(())
}

/// How long the snapshot took, and each log fsync's time in microseconds.
fn measure(dir: &Path, snapshot: Snapshot, way: Way) -> io::Result<(Duration, Vec<u64>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let log = {
        let stop = stop.clone();
        let path = dir.join("log");
        thread::spawn(move || append_and_sync(&path, &stop))
    };
    let started = Instant::now();
    let path = dir.join("snapshot");
    let written = match way {
        Way::None => {
            thread::sleep(ALONE);
            Ok(())
        }
        Way::SyncedSteps => write_synced_steps(&path, snapshot),
        Way::Paced => write_paced(&path, snapshot),
    };
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let waits = log
        .join()
        .map_err(|_| io::Error::other("the log thread panicked"))??;
    written?;
    let _ = std::fs::remove_file(path);
    Ok((took, waits))
}

fn append_and_sync(path: &Path, stop: &AtomicBool) -> io::Result<Vec<u64>> {
    let mut log = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)?;
    let entry = [1u8; 4096];
    let mut waits = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        log.write_all(&entry)?;
        log.sync_data()?;
        waits.push(started.elapsed().as_micros() as u64);
    }
    Ok(waits)
}

fn snapshot_bytes(snapshot: Snapshot, mut out: impl Write) -> io::Result<()> {
    let chunk = vec![7u8; WRITE];
    let started = Instant::now();
    for written in 1..=(snapshot.megabytes << 20) / WRITE {
        out.write_all(&chunk)?;
        if snapshot.per_second > 0 {
            let due = Duration::from_secs_f64(
                (written * WRITE) as f64 / (snapshot.per_second << 20) as f64,
            );
            thread::sleep(due.saturating_sub(started.elapsed()));
        }
    }
    Ok(())
}

fn write_synced_steps(path: &Path, snapshot: Snapshot) -> io::Result<()> {
    struct Synced {
        file: File,
        unsynced: u64,
    }
    impl Write for Synced {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let written = self.file.write(buf)?;
            self.unsynced += written as u64;
            if self.unsynced >= SYNCED_STEP {
                self.file.sync_data()?;
                self.unsynced = 0;
            }
            Ok(written)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.file.flush()
        }
    }
    let mut out = Synced {
        file: File::create(path)?,
        unsynced: 0,
    };
    snapshot_bytes(snapshot, &mut out)?;
    out.file.sync_all()
}

fn write_paced(path: &Path, snapshot: Snapshot) -> io::Result<()> {
    let mut out = PacedFile::new(File::create(path)?);
    snapshot_bytes(snapshot, &mut out)?;
    out.into_synced().map(drop)
}
