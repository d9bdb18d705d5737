//! How long a round waits for a peer's connection to open, by the peer's distance and
//! its recent failures (docs/SYNC.md, "Time-outs").
//!
//! Over lossy radio a SYN or its answer is often lost; Linux resends a SYN after 1, 2,
//! 4, 8 s. Near peers answer within the base 5 s (three SYNs). A far peer that answers
//! needs more: its connect time-out is 3 of its round-trip times, up to 15 s (five
//! SYNs). A peer that failed since it last answered gets the base time-out: its path is
//! more likely down (a cut link, a node switched off) than slow, and a long wait would
//! hold its slot, so that it could not be tried afresh the moment the link comes back
//! (a rule that doubled the time-out per failure instead made the namespace test's heal
//! time vary from 10 s to 26 s, against 13 s with the base one).
//!
//! The stall window is not scaled. The simulator (`make sim`) measured it: longer stall
//! windows for far peers raised their pulls' success but slowed the spread of messages
//! by half, because a segment lost several times waits out TCP's doubling
//! retransmission time-out, while a fresh contact a round later starts from a short one.
//!
//! Free of clocks and sockets, like `strategy`: the daemon and the simulator use it alike.

use std::time::Duration;

use crate::http::client::CONNECT_TIMEOUT;

/// A far peer's connect time-out is this many of its round-trip times (a lost SYN is
/// resent after 1 s, then 2, then 4: the longer the path, the more are lost).
const CONNECT_RTTS: u32 = 3;
/// The longest connect time-out: five SYNs (at 0, 1, 3, 7 and 15 s).
const MAX_CONNECT: Duration = Duration::from_secs(15);

/// The time-outs of one round with one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    /// Waiting for the TCP connection to open.
    pub connect: Duration,
    /// Waiting for the next byte, and the window of the slow-transfer cutoff.
    pub stall: Duration,
}

impl Patience {
    /// The time-outs for a peer whose smoothed round-trip time is `rtt_ms` (none before
    /// it first answered), after `failures` failures since it last answered; `stall` is
    /// the configured stall window (`--stall`).
    pub fn of(rtt_ms: Option<u32>, failures: u32, stall: Duration) -> Patience {
        let connect = match (rtt_ms, failures) {
            (Some(rtt), 0) => (Duration::from_millis(u64::from(rtt)) * CONNECT_RTTS)
                .clamp(CONNECT_TIMEOUT, MAX_CONNECT),
            _ => CONNECT_TIMEOUT,
        };
        Patience { connect, stall }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALL: Duration = Duration::from_secs(10);

    fn connect_ms(rtt_ms: Option<u32>, failures: u32) -> u128 {
        Patience::of(rtt_ms, failures, STALL).connect.as_millis()
    }

    #[test]
    fn a_near_peer_or_a_new_one_gets_the_base_time_out() {
        assert_eq!(connect_ms(None, 0), 5_000);
        assert_eq!(connect_ms(Some(300), 0), 5_000);
    }

    #[test]
    fn a_far_peer_that_answers_gets_three_round_trips_up_to_15_s() {
        // 4 hops of 200 ms each way, and a lost SYN or two: 2.5 s to the first answer.
        assert_eq!(connect_ms(Some(2_500), 0), 7_500);
        assert_eq!(connect_ms(Some(60_000), 0), 15_000);
    }

    #[test]
    fn a_peer_that_failed_since_it_last_answered_gets_the_base_time_out() {
        assert_eq!(connect_ms(Some(2_500), 1), 5_000);
        assert_eq!(connect_ms(Some(60_000), 9), 5_000);
        assert_eq!(connect_ms(None, 3), 5_000);
    }

    #[test]
    fn the_stall_window_is_the_configured_one() {
        for (rtt, failures) in [(None, 0), (Some(60_000), 0), (None, 5)] {
            let s = Duration::from_secs(1);
            assert_eq!(Patience::of(rtt, failures, s).stall, s);
        }
    }
}
