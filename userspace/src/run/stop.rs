//! The one way a tool learns that it should stop: SIGINT, SIGTERM (and SIGHUP for the
//! offline tools, as blkparse), a deadline (`-w`, DURATION), or the tool itself. Blocking code
//! sleeps on it (`sleep_until`), async code awaits it (`stopped`), loops poll it (`is_set`);
//! all three wake at once when a signal arrives. Also home of the one tokio runtime builder.

use std::{
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use signal_hook::{
    consts::{SIGHUP, SIGINT, SIGTERM},
    iterator::Signals,
};

/// The signals that stop a live tool.
pub const INTERRUPT: &[i32] = &[SIGINT, SIGTERM];
/// The signals that stop an offline tool (blkparse also stops on a hangup).
pub const INTERRUPT_OR_HANGUP: &[i32] = &[SIGINT, SIGTERM, SIGHUP];

#[derive(Debug, thiserror::Error)]
pub enum StopError {
    #[error("installing the signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("starting the signal thread: {0}")]
    Thread(std::io::Error),
    #[error("starting the tokio runtime: {0}")]
    Runtime(std::io::Error),
}

/// A cheap handle (clones share one state) on "should the run stop now?".
#[derive(Clone)]
pub struct Stop {
    shared: Arc<Shared>,
    deadline: Option<Instant>,
}

struct Shared {
    flag: AtomicBool,
    /// Wakes blocking sleepers (`sleep_until`).
    lock: Mutex<()>,
    woken: Condvar,
    /// Wakes async waiters (`stopped`).
    notify: tokio::sync::Notify,
}

impl Stop {
    /// A stop that only the tool (`trigger`) or a deadline sets: for tests and for threads
    /// that a tool stops itself.
    pub fn manual() -> Stop {
        Stop {
            shared: Arc::new(Shared {
                flag: AtomicBool::new(false),
                lock: Mutex::new(()),
                woken: Condvar::new(),
                notify: tokio::sync::Notify::new(),
            }),
            deadline: None,
        }
    }

    /// A stop set by the first of `signals`. The signals are taken by a thread of their own,
    /// so no work happens in a signal handler and every kind of waiter is woken.
    pub fn on_signals(signals: &[i32]) -> Result<Stop, StopError> {
        let stop = Stop::manual();
        let mut incoming = Signals::new(signals).map_err(StopError::Signals)?;
        let on_signal = stop.clone();
        std::thread::Builder::new()
            .name("blkscope-signals".into())
            .spawn(move || {
                if incoming.forever().next().is_some() {
                    on_signal.trigger();
                }
            })
            .map_err(StopError::Thread)?;
        Ok(stop)
    }

    /// The same stop, also set once `after` has passed (none: no deadline).
    pub fn with_deadline(mut self, after: Option<Duration>) -> Stop {
        // A deadline beyond what Instant can hold is no deadline.
        self.deadline = after.and_then(|after| Instant::now().checked_add(after));
        self
    }

    /// Stops the run (the tool's own reasons: a count reached, a reader gone).
    pub fn trigger(&self) {
        self.shared.flag.store(true, Ordering::SeqCst);
        let _guard = self.shared.lock.lock();
        self.shared.woken.notify_all();
        self.shared.notify.notify_waiters();
    }

    /// Whether the run should stop: a signal came, the tool stopped it, or the deadline passed.
    pub fn is_set(&self) -> bool {
        self.shared.flag.load(Ordering::SeqCst)
            || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Sleeps until `when` (or forever, `None`); true when woken because the run should stop.
    pub fn sleep_until(&self, when: Option<Instant>) -> bool {
        let until = match (when, self.deadline) {
            (Some(w), Some(d)) => Some(w.min(d)),
            (w, d) => w.or(d),
        };
        let Ok(mut guard) = self.shared.lock.lock() else {
            return true;
        };
        loop {
            if self.is_set() {
                return true;
            }
            let now = Instant::now();
            match until {
                Some(until) if now >= until => return self.is_set(),
                Some(until) => match self.shared.woken.wait_timeout(guard, until - now) {
                    Ok((g, _)) => guard = g,
                    Err(_) => return true,
                },
                None => match self.shared.woken.wait(guard) {
                    Ok(g) => guard = g,
                    Err(_) => return true,
                },
            }
        }
    }

    /// Resolves once the run should stop.
    pub async fn stopped(&self) {
        let deadline = async {
            match self.deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        let signalled = async {
            loop {
                let notified = self.shared.notify.notified();
                tokio::pin!(notified);
                // Registered before the check, so a trigger in between is not missed.
                notified.as_mut().enable();
                if self.shared.flag.load(Ordering::SeqCst) {
                    return;
                }
                notified.await;
            }
        };
        tokio::select! {
            () = deadline => {}
            () = signalled => {}
        }
    }
}

/// The runtime every async part of a tool runs on: one thread (the probes' ring buffers and
/// the exporter's server need no more), timers and I/O enabled.
pub fn runtime() -> Result<tokio::runtime::Runtime, StopError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(StopError::Runtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_wakes_a_sleeper_at_once() {
        let stop = Stop::manual();
        let waker = stop.clone();
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            waker.trigger();
        });
        assert!(stop.sleep_until(Some(Instant::now() + Duration::from_secs(60))));
        assert!(started.elapsed() < Duration::from_secs(30));
        thread.join().unwrap();
        assert!(stop.is_set());
    }

    #[test]
    fn a_sleep_ends_without_stopping_when_its_time_comes() {
        let stop = Stop::manual();
        assert!(!stop.sleep_until(Some(Instant::now() + Duration::from_millis(5))));
        assert!(!stop.is_set());
    }

    #[test]
    fn the_deadline_stops_sleepers_and_awaiters() {
        let stop = Stop::manual().with_deadline(Some(Duration::from_millis(10)));
        assert!(stop.sleep_until(None));
        assert!(stop.is_set());
        let stop = Stop::manual().with_deadline(Some(Duration::from_millis(10)));
        runtime().unwrap().block_on(stop.stopped());
        assert!(stop.is_set());
    }

    #[test]
    fn an_absurd_deadline_is_none() {
        let stop = Stop::manual().with_deadline(Some(Duration::MAX));
        assert!(!stop.is_set());
        assert!(!stop.sleep_until(Some(Instant::now())));
    }

    #[test]
    fn a_trigger_wakes_an_awaiter() {
        let stop = Stop::manual();
        let waker = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            waker.trigger();
        });
        runtime().unwrap().block_on(stop.stopped());
        assert!(stop.is_set());
    }
}
