//! The order in which a pool hands out its connections: one place per connection, and three
//! lines of waiters. The queues' own work (bus and notification dispatch, completion, the
//! janitor) goes before requests: it drains what the requests posted, so a pool saturated by
//! requests must never starve it, or the queues grow without bound while every request still
//! succeeds (Kill Bill's "Growing queues"). A request's later units of work go before fresh
//! requests: after it waited for its account's turn behind another payment, or its second
//! transaction after a plugin call. It has queued once already, and joining the back of the
//! line again would double its wait (with 100 users on 100 accounts, most payments find their
//! account busy, and that second wait made the p99 three to four times the mean). Within a
//! line, first come, first served.
//!
//! A place is given back when its [`Place`] drops, straight to the next waiter. A waiter that
//! gives up (its request timed out or hung up) leaves the line, and passes on a place handed
//! to it in the meantime. This file owns only the counting; it never opens a connection.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::oneshot;

/// Who asks for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    /// Queue dispatch and other background work that drains what requests posted.
    Queue,
    /// A request's later unit of work, after it queued once already.
    Resumed,
    /// Everything else: HTTP requests first of all.
    Request,
}

impl Priority {
    fn line(self) -> usize {
        match self {
            Priority::Queue => 0,
            Priority::Resumed => 1,
            Priority::Request => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Queue => "queue",
            Priority::Resumed => "resumed",
            Priority::Request => "request",
        }
    }
}

/// Who is waiting now, for diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Waiting {
    pub queue: usize,
    /// Requests, resumed ones included.
    pub requests: usize,
    /// How long the longest waiter has waited.
    pub longest: Duration,
}

pub(super) struct Gate {
    state: Mutex<State>,
}

struct State {
    free: usize,
    /// One line per [`Priority`], served in that order.
    lines: [VecDeque<Waiter>; 3],
    next_ticket: u64,
}

struct Waiter {
    ticket: u64,
    since: Instant,
    grant: oneshot::Sender<()>,
}

/// One connection's place, held for as long as the connection is.
pub(super) struct Place {
    gate: Arc<Gate>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.gate.release();
    }
}

impl Gate {
    pub fn new(places: usize) -> Arc<Gate> {
        Arc::new(Gate {
            state: Mutex::new(State {
                free: places,
                lines: [VecDeque::new(), VecDeque::new(), VecDeque::new()],
                next_ticket: 0,
            }),
        })
    }

    /// A place only if one is free now, with nobody waiting for it.
    pub fn try_enter(self: &Arc<Self>) -> Option<Place> {
        let mut state = self.state.lock();
        if state.free == 0 {
            return None;
        }
        state.free -= 1;
        Some(Place { gate: self.clone() })
    }

    /// Waits for a place (for ever: the caller bounds the wait).
    pub async fn enter(self: &Arc<Self>, priority: Priority) -> Place {
        let (ticket, granted) = {
            let mut state = self.state.lock();
            if state.free > 0 {
                state.free -= 1;
                return Place { gate: self.clone() };
            }
            let ticket = state.next_ticket;
            state.next_ticket += 1;
            let (grant, granted) = oneshot::channel();
            state.lines[priority.line()].push_back(Waiter {
                ticket,
                since: Instant::now(),
                grant,
            });
            (ticket, granted)
        };
        let mut guard = Leaving {
            gate: self.clone(),
            ticket,
            granted,
            received: false,
        };
        let granted = (&mut guard.granted).await;
        guard.received = true;
        match granted {
            Ok(()) => Place { gate: self.clone() },
            // The gate never drops a sender without sending, so this cannot happen; a place
            // is still owed, so wait again rather than fail.
            Err(_) => Box::pin(self.enter(priority)).await,
        }
    }

    pub fn waiting(&self) -> Waiting {
        let state = self.state.lock();
        let now = Instant::now();
        let longest = state
            .lines
            .iter()
            .filter_map(|line| line.front())
            .map(|waiter| now.saturating_duration_since(waiter.since))
            .max()
            .unwrap_or_default();
        Waiting {
            queue: state.lines[Priority::Queue.line()].len(),
            requests: state.lines[Priority::Resumed.line()].len()
                + state.lines[Priority::Request.line()].len(),
            longest,
        }
    }

    /// Hands a returned place to the first waiter still there, in the lines' order.
    fn release(&self) {
        let mut state = self.state.lock();
        loop {
            let next = state.lines.iter_mut().find_map(|line| line.pop_front());
            match next {
                Some(waiter) => {
                    if waiter.grant.send(()).is_ok() {
                        return;
                    }
                }
                None => {
                    state.free += 1;
                    return;
                }
            }
        }
    }
}

/// A waiter's way out: dropped before its place arrived (the wait was cancelled), it leaves
/// the line, or passes on the place that reached it meanwhile.
struct Leaving {
    gate: Arc<Gate>,
    ticket: u64,
    granted: oneshot::Receiver<()>,
    received: bool,
}

impl Drop for Leaving {
    fn drop(&mut self) {
        if self.received {
            return;
        }
        let still_waiting = {
            let mut state = self.gate.state.lock();
            let mut found = false;
            for line in state.lines.iter_mut() {
                if let Some(at) = line.iter().position(|waiter| waiter.ticket == self.ticket) {
                    line.remove(at);
                    found = true;
                    break;
                }
            }
            found
        };
        if !still_waiting && self.granted.try_recv().is_ok() {
            self.gate.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_served_in_order_whoever_came_first() {
        let gate = Gate::new(1);
        let held = gate.enter(Priority::Request).await;
        let (order, mut served) = tokio::sync::mpsc::unbounded_channel();
        let mut waiters = Vec::new();
        // Entered in the reverse of the order they are served in.
        for priority in [Priority::Request, Priority::Resumed, Priority::Queue] {
            let (gate, order) = (gate.clone(), order.clone());
            waiters.push(tokio::spawn(async move {
                let _place = gate.enter(priority).await;
                let _ = order.send(priority);
            }));
            tokio::task::yield_now().await;
        }
        let waiting = gate.waiting();
        assert_eq!((waiting.queue, waiting.requests), (1, 2));
        drop(held);
        assert_eq!(served.recv().await, Some(Priority::Queue));
        assert_eq!(served.recv().await, Some(Priority::Resumed));
        assert_eq!(served.recv().await, Some(Priority::Request));
        for waiter in waiters {
            waiter.await.expect("joined");
        }
        assert_eq!(gate.state.lock().free, 1);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_leaves_no_place_behind() {
        let gate = Gate::new(1);
        let held = gate.enter(Priority::Request).await;
        let gave_up =
            tokio::time::timeout(Duration::from_millis(10), gate.enter(Priority::Request)).await;
        assert!(gave_up.is_err());
        assert_eq!(gate.waiting().requests, 0);
        drop(held);
        assert_eq!(gate.state.lock().free, 1);
        let _again = gate.enter(Priority::Queue).await;
        assert_eq!(gate.state.lock().free, 0);
    }
}
