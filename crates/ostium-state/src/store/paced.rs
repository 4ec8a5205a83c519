//! A file written to disk as it is written. A snapshot is hundreds of megabytes
//! written at once; left to the kernel, they pile up as dirty pages, and the Raft
//! log's fsyncs, which every write waits for, queue behind them: ext4 (in its default
//! `data=ordered`) writes out dirty data before the journal commit an fsync waits
//! for. Written whole and synced at the end, a snapshot held the log back for over a
//! second, long enough for the cluster to lose its leader (bench/RESULTS.md, "A
//! family's tokens side by side"); synced every 8 MiB, it still held each fsync of
//! the log back by up to a step's worth of writing, tens of milliseconds.
//!
//! So every [`STEP`] the kernel is asked to start writing the step just written,
//! and the file waits until the step before it is on disk: no more than two steps
//! are ever waiting to be written, and writing them needs no journal commit
//! (`sync_file_range`, on Linux; elsewhere each step is synced). The end of the
//! file is synced whole by [`PacedFile::into_synced`].

use std::fs::File;
use std::io::{self, Write};

/// How much writing an fsync of the log may find ahead of it, twice over: at a few
/// hundred megabytes a second, a few milliseconds.
pub const STEP: u64 = 1 << 20;

pub struct PacedFile {
    file: File,
    step: u64,
    written: u64,
    /// Where the step being written out starts; the one before it is on disk.
    writing_from: u64,
    /// Where the bytes not yet handed to the kernel to write start.
    started_to: u64,
    steps: u64,
}

impl PacedFile {
    pub fn new(file: File) -> Self {
        Self::with_step(file, STEP)
    }

    fn with_step(file: File, step: u64) -> Self {
        Self {
            file,
            step,
            written: 0,
            writing_from: 0,
            started_to: 0,
            steps: 0,
        }
    }

    /// How many bytes have been written to the file.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The file, with everything written to it on disk.
    pub fn into_synced(self) -> io::Result<File> {
        self.file.sync_all()?;
        Ok(self.file)
    }

    /// Starts writing out what was written since the last step, and waits for the
    /// step before to be on disk.
    fn step(&mut self) -> io::Result<()> {
        let (previous, current) = (self.writing_from, self.started_to);
        write_out::start(&self.file, current, self.written - current)?;
        write_out::wait(&self.file, previous, current - previous)?;
        self.writing_from = current;
        self.started_to = self.written;
        self.steps += 1;
        Ok(())
    }
}

impl Write for PacedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // A large buffer is written a step at a time.
        let room =
            usize::try_from(self.step - (self.written - self.started_to)).unwrap_or(usize::MAX);
        let written = self.file.write(&buf[..buf.len().min(room)])?;
        self.written += written as u64;
        if self.written - self.started_to >= self.step {
            self.step()?;
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Writing a range of a file out without an fsync's journal commit.
#[cfg(target_os = "linux")]
mod write_out {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    /// Asks the kernel to start writing `len` bytes from `offset`; does not wait.
    pub fn start(file: &File, offset: u64, len: u64) -> io::Result<()> {
        sync_file_range(file, offset, len, libc::SYNC_FILE_RANGE_WRITE)
    }

    /// Returns once `len` bytes from `offset` are written out.
    pub fn wait(file: &File, offset: u64, len: u64) -> io::Result<()> {
        sync_file_range(
            file,
            offset,
            len,
            libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER,
        )
    }

    fn sync_file_range(file: &File, offset: u64, len: u64, flags: libc::c_uint) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
            return Err(io::Error::other("a file range beyond i64"));
        };
        // SAFETY: the descriptor is open for as long as `file` is borrowed, and the
        // call reads no memory of ours.
        let done = unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, flags) };
        if done == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// Without `sync_file_range`, each step is synced as it ends.
#[cfg(not(target_os = "linux"))]
mod write_out {
    use std::fs::File;
    use std::io;

    pub fn start(file: &File, _offset: u64, _len: u64) -> io::Result<()> {
        file.sync_data()
    }

    pub fn wait(_file: &File, _offset: u64, _len: u64) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_is_handed_to_the_disk_as_it_fills_and_the_whole_file_arrives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("paced");
        let mut paced = PacedFile::with_step(File::create(&path).unwrap(), 100);
        for _ in 0..35 {
            paced.write_all(&[7u8; 10]).unwrap();
        }
        assert_eq!(paced.steps, 3);
        assert_eq!((paced.writing_from, paced.started_to), (200, 300));
        // A write larger than a step is written out a step at a time.
        paced.write_all(&[8u8; 250]).unwrap();
        assert_eq!(paced.steps, 6);
        paced.into_synced().unwrap();
        let mut expected = vec![7u8; 350];
        expected.extend([8u8; 250]);
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }
}
