//! Work a node does for itself rather than for a request: building a snapshot. A
//! snapshot of a million families is seconds of a core, and on a node whose CPU is
//! all in use those seconds were taken from the requests and the log. So it runs on
//! a thread of its own at a lower CPU priority (a nice value of [`NICE`]): when the
//! CPU is short, requests, the log and the state machine go first and the snapshot
//! takes longer; when it is not, the snapshot runs as fast as before.

use std::io;

/// The nice value of a background thread: about a tenth of the CPU of an ordinary
/// thread when both want it.
const NICE: i32 = 10;

/// Runs `work` on a thread of its own named `name`, at a lower CPU priority, and
/// returns what it returned.
pub async fn run<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            lower_priority();
            let _ = answer.send(work());
        })?;
    answered
        .await
        .map_err(|_| io::Error::other("the background thread ended without an answer"))?
}

/// Lowers the calling thread's CPU priority: on Linux a nice value is the thread's
/// own, not its process's. A thread that cannot is left as it is.
#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: plain system calls on this thread's own id; no memory is shared.
    let lowered = unsafe {
        let thread = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, thread as libc::id_t, NICE)
    };
    if lowered != 0 {
        tracing::debug!(
            error = %io::Error::last_os_error(),
            "a background thread keeps its priority"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calling thread's nice value, from field 19 of its stat (the command name
    /// before it is in parentheses and may hold spaces).
    fn nice() -> io::Result<i32> {
        let stat = std::fs::read_to_string("/proc/thread-self/stat")?;
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        after_name
            .split_whitespace()
            .nth(19 - 3)
            .and_then(|nice| nice.parse().ok())
            .ok_or_else(|| io::Error::other("no nice value in stat"))
    }

    #[tokio::test]
    async fn work_runs_on_a_thread_of_lower_priority_and_its_answer_comes_back() {
        let (name, nice_there) = run("ostium-test", || {
            let name = std::thread::current().name().map(str::to_owned);
            let nice = if cfg!(target_os = "linux") {
                nice()?
            } else {
                0
            };
            Ok((name, nice))
        })
        .await
        .unwrap();
        assert_eq!(name.as_deref(), Some("ostium-test"));
        if cfg!(target_os = "linux") {
            // A process already nicer than NICE stays as nice as it was.
            assert_eq!(nice_there, nice().unwrap().max(NICE));
        }
        let failed = run("ostium-test", || -> io::Result<()> {
            Err(io::Error::other("no snapshot"))
        })
        .await;
        assert_eq!(failed.unwrap_err().to_string(), "no snapshot");
    }
}
