//! A small queue between threads: a mutex, a condition variable and a `Vec`. It does
//! what meshchat asked of std's `mpsc` channels (the server's connection queue, the sync
//! daemon's jobs and wake-ups, a name lookup's time-out), in a fraction of their code:
//! std's channels brought about 20 KB of `mpmc` machinery into the `mips_24kc` binary
//! (docs/PACKAGING.md, "Size").
//!
//! Every clone of a [`Sender`] or a [`Receiver`] shares one queue; several receivers take
//! turns (each item goes to one). A receiver hears [`Recv::Gone`] once the queue is empty
//! and every sender is dropped; a send fails once every receiver is dropped. Queues hold a
//! few items at a time, so taking the first one by shifting the rest is cheap.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

struct State<T> {
    items: Vec<T>,
    senders: usize,
    receivers: usize,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
    /// Items held at most; a send beyond it is refused with [`Refused::Full`].
    bound: usize,
}

impl<T> Shared<T> {
    /// The state; a thread that panicked while holding it left it consistent (every
    /// change is one push, one remove or one count), so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending side.
pub struct Sender<T>(Arc<Shared<T>>);

/// The receiving side.
pub struct Receiver<T>(Arc<Shared<T>>);

/// Why a send did not queue its item (which comes back).
#[derive(Debug)]
pub enum Refused<T> {
    /// The queue holds its bound already.
    Full(T),
    /// Every receiver is gone.
    Gone(T),
}

/// Why a receive returned no item.
#[derive(Debug, PartialEq, Eq)]
pub enum Recv {
    /// The time ran out first.
    Timeout,
    /// The queue is empty and every sender is gone.
    Gone,
}

/// A queue without a bound.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    bounded(usize::MAX)
}

/// A queue that holds at most `bound` items.
pub fn bounded<T>(bound: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: Vec::new(),
            senders: 1,
            receivers: 1,
        }),
        ready: Condvar::new(),
        bound,
    });
    (Sender(shared.clone()), Receiver(shared))
}

impl<T> Sender<T> {
    /// Queues `item` and wakes one receiver.
    pub fn send(&self, item: T) -> Result<(), Refused<T>> {
        let mut s = self.0.lock();
        if s.receivers == 0 {
            return Err(Refused::Gone(item));
        }
        if s.items.len() >= self.0.bound {
            return Err(Refused::Full(item));
        }
        s.items.push(item);
        drop(s);
        self.0.ready.notify_one();
        Ok(())
    }
}

impl<T> Receiver<T> {
    /// The next item, waiting as long as it takes.
    pub fn recv(&self) -> Result<T, Recv> {
        self.recv_within(None)
    }

    /// The next item, waiting at most `wait` (zero: only what is queued now).
    pub fn recv_timeout(&self, wait: Duration) -> Result<T, Recv> {
        self.recv_within(Some(wait))
    }

    fn recv_within(&self, wait: Option<Duration>) -> Result<T, Recv> {
        let deadline = wait.map(|w| Instant::now() + w);
        let mut s = self.0.lock();
        loop {
            if !s.items.is_empty() {
                return Ok(s.items.remove(0));
            }
            if s.senders == 0 {
                return Err(Recv::Gone);
            }
            s = match deadline {
                None => self.0.ready.wait(s).unwrap_or_else(PoisonError::into_inner),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Recv::Timeout);
                    }
                    self.0
                        .ready
                        .wait_timeout(s, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.0.lock().senders += 1;
        Sender(self.0.clone())
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.0.lock().receivers += 1;
        Receiver(self.0.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.senders -= 1;
        if s.senders == 0 {
            drop(s);
            // Waiting receivers learn that nothing more will come.
            self.0.ready.notify_all();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.0.lock().receivers -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_out_in_order_then_gone_once_senders_left() {
        let (tx, rx) = unbounded();
        let tx2 = tx.clone();
        tx.send(1).unwrap();
        tx2.send(2).unwrap();
        assert_eq!(rx.recv(), Ok(1));
        drop(tx);
        assert_eq!(rx.recv_timeout(Duration::ZERO), Ok(2));
        assert_eq!(rx.recv_timeout(Duration::ZERO), Err(Recv::Timeout));
        drop(tx2);
        assert_eq!(rx.recv(), Err(Recv::Gone));
    }

    #[test]
    fn a_bound_refuses_and_gone_receivers_refuse() {
        let (tx, rx) = bounded(1);
        tx.send('a').unwrap();
        assert!(matches!(tx.send('b'), Err(Refused::Full('b'))));
        let rx2 = rx.clone();
        drop(rx);
        assert_eq!(rx2.recv(), Ok('a'));
        drop(rx2);
        assert!(matches!(tx.send('c'), Err(Refused::Gone('c'))));
    }

    #[test]
    fn a_waiting_receiver_wakes_for_an_item_and_for_the_last_sender() {
        let (tx, rx) = unbounded::<u32>();
        let rx2 = rx.clone();
        let t = std::thread::spawn(move || (rx2.recv(), rx2.recv()));
        std::thread::sleep(Duration::from_millis(20));
        tx.send(7).unwrap();
        drop(tx);
        assert_eq!(t.join().unwrap(), (Ok(7), Err(Recv::Gone)));
        let start = Instant::now();
        let (_tx, rx) = unbounded::<u32>();
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(30)),
            Err(Recv::Timeout)
        );
        assert!(start.elapsed() >= Duration::from_millis(30));
    }
}
