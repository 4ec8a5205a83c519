//! A file written to disk in steps: every [`STEP`] bytes, it waits until what it
//! holds is on disk. A snapshot is hundreds of megabytes written at once; left to
//! the kernel, they pile up as dirty pages that go out together when the file is
//! synced, and the Raft log's fsyncs, which every write waits for, queue behind
//! them for a second or more: long enough for the cluster to lose its leader
//! (bench/RESULTS.md, "Snapshots written in steps"). Written in steps, an fsync
//! of the log never waits behind more than one.

use std::fs::File;
use std::io::{self, Write};

/// How much a file may hold that is not on disk yet: at a few hundred megabytes a
/// second, some tens of milliseconds of writing.
pub const STEP: u64 = 8 << 20;

pub struct PacedFile {
    file: File,
    step: u64,
    unsynced: u64,
    syncs: u64,
}

impl PacedFile {
    pub fn new(file: File) -> Self {
        Self::with_step(file, STEP)
    }

    fn with_step(file: File, step: u64) -> Self {
        Self {
            file,
            step,
            unsynced: 0,
            syncs: 0,
        }
    }

    /// The file, with everything written to it on disk.
    pub fn into_synced(self) -> io::Result<File> {
        self.file.sync_all()?;
        Ok(self.file)
    }
}

impl Write for PacedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.file.write(buf)?;
        self.unsynced += written as u64;
        if self.unsynced >= self.step {
            self.file.sync_data()?;
            self.unsynced = 0;
            self.syncs += 1;
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_s_worth_of_writing_goes_to_disk_before_more_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("paced");
        let mut paced = PacedFile::with_step(File::create(&path).unwrap(), 100);
        for _ in 0..35 {
            paced.write_all(&[7u8; 10]).unwrap();
        }
        assert_eq!(paced.syncs, 3);
        paced.into_synced().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), vec![7u8; 350]);
    }
}
