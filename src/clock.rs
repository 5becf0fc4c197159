//! Time as the server's rules read it: the wall clock in production and, in tests, a clock
//! that follows tokio's, so that a test running on tokio's paused time (`start_paused`,
//! `tokio::time::advance`) moves the timers and the timestamps together and waits for
//! nothing real.
//!
//! This file only tells the time. It never sleeps or schedules (tokio's timers do that, and
//! they already follow the paused clock) and keeps no state beyond where a test clock
//! started. Code that decides by time takes a [`Clock`] instead of calling `Utc::now()`.

use chrono::{DateTime, Utc};

/// Hands out "now". Cheap to clone; give one to whatever decides by time.
#[derive(Clone, Debug)]
pub struct Clock {
    source: Source,
}

#[derive(Clone, Debug)]
enum Source {
    System,
    /// The wall time when the clock was made, plus tokio's time elapsed since.
    Tokio {
        wall: DateTime<Utc>,
        start: tokio::time::Instant,
    },
}

impl Clock {
    /// The operating system's wall clock.
    pub fn system() -> Clock {
        Clock {
            source: Source::System,
        }
    }

    /// Starts at the current wall time, then advances only as tokio's clock does: on paused
    /// time, exactly by what the test advances (or tokio auto-advances to the next timer).
    /// Must be made inside a tokio runtime.
    pub fn following_tokio() -> Clock {
        Clock {
            source: Source::Tokio {
                wall: Utc::now(),
                start: tokio::time::Instant::now(),
            },
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.source {
            Source::System => Utc::now(),
            Source::Tokio { wall, start } => {
                // An elapsed time beyond chrono's range (hundreds of millennia) cannot happen
                // on a clock made by this process; saturate rather than panic.
                let elapsed =
                    chrono::Duration::from_std(start.elapsed()).unwrap_or(chrono::Duration::MAX);
                wall.checked_add_signed(elapsed)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC)
            }
        }
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::system()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_tokio_clock_moves_only_with_tokio_time() {
        let clock = Clock::following_tokio();
        let before = clock.now();
        assert_eq!(clock.now(), before, "paused time does not move on its own");
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(clock.now() - before, chrono::Duration::hours(1));
        // A sleep on paused time returns at once, with the clock moved by its length.
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(clock.now() - before, chrono::Duration::minutes(61));
    }

    #[test]
    fn the_system_clock_is_the_wall_clock() {
        let before = Utc::now();
        let now = Clock::system().now();
        assert!(now >= before && now <= Utc::now());
    }
}
