//! Presence: who is using the chat, on this node (`users_local`) and elsewhere
//! (`users_remote`). Both files live in RAM: heartbeats every 15 s never touch flash.

use std::path::PathBuf;

use super::atomic;
use super::lock::Lock;
use super::{read_optional, Paths, Result};
use crate::protocol::limits::MAX_USERS;
use crate::protocol::lines::{parse_all, User};
use crate::protocol::Epoch;

/// Entries older than this are pruned. The UI hides users after 240 s; the margin
/// tolerates clocks that differ between nodes.
pub const PRUNE_AFTER_SECS: u64 = 600;

/// The presence lists of one node.
#[derive(Debug, Clone)]
pub struct Users {
    local: PathBuf,
    remote: PathBuf,
    lock: PathBuf,
}

fn fresh(u: &User, now: Epoch) -> bool {
    u.epoch.0.saturating_add(PRUNE_AFTER_SECS) >= now.0
}

fn write_list(users: &[User]) -> String {
    let mut out = String::with_capacity(users.len() * 48);
    for u in users {
        u.write_line(&mut out);
    }
    out
}

impl Users {
    /// The lists described by `paths`.
    pub fn new(paths: &Paths) -> Users {
        Users {
            local: paths.local_users(),
            remote: paths.remote_users(),
            lock: paths.lock(),
        }
    }

    /// Records a heartbeat of a local user: one entry per call sign (legacy), the newest
    /// wins; stale entries are pruned.
    pub fn heartbeat(&self, user: User, now: Epoch) -> Result<()> {
        let _lock = Lock::exclusive(&self.lock)?;
        let (mut users, _) = self.read(&self.local)?;
        users.retain(|u| u.call_sign != user.call_sign && fresh(u, now));
        users.push(user);
        crate::sort::sort_by_key(&mut users, |a| std::cmp::Reverse(a.epoch));
        users.truncate(MAX_USERS);
        atomic::replace(&self.local, write_list(&users).as_bytes(), false)
    }

    fn read(&self, path: &std::path::Path) -> Result<(Vec<User>, usize)> {
        let bytes = read_optional(path)?;
        Ok(parse_all(&String::from_utf8_lossy(&bytes), User::parse))
    }

    /// The raw `users_raw` body: this node's users as stored.
    pub fn local_raw(&self) -> Result<Vec<u8>> {
        read_optional(&self.local)
    }

    /// Local and remote users, newest first.
    pub fn all(&self) -> Result<Vec<User>> {
        let (mut users, _) = self.read(&self.local)?;
        users.extend(self.read(&self.remote)?.0);
        crate::sort::sort_by_key(&mut users, |a| std::cmp::Reverse(a.epoch));
        Ok(users)
    }

    /// Merges users pulled from a peer, keyed by (call_sign, id, node), keeping the newer
    /// epoch; stale entries are pruned so the list cannot grow forever.
    pub fn merge_remote(&self, incoming: &[User], now: Epoch) -> Result<()> {
        let _lock = Lock::exclusive(&self.lock)?;
        let (mut users, _) = self.read(&self.remote)?;
        for u in incoming {
            match users
                .iter_mut()
                .find(|x| x.call_sign == u.call_sign && x.id == u.id && x.node == u.node)
            {
                Some(x) if x.epoch >= u.epoch => {}
                Some(x) => *x = u.clone(),
                None => users.push(u.clone()),
            }
        }
        users.retain(|u| fresh(u, now));
        crate::sort::sort_by_key(&mut users, |a| std::cmp::Reverse(a.epoch));
        users.truncate(MAX_USERS);
        atomic::replace(&self.remote, write_list(&users).as_bytes(), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::log::tests::temp_paths;

    fn user(cs: &str, id: &str, node: &str, epoch: u64) -> User {
        User::parse(&format!("{cs}\t{id}\t{node}\t{epoch}\tnode")).unwrap()
    }

    #[test]
    fn heartbeats_keep_one_entry_per_call_sign() {
        let p = temp_paths("users");
        let u = Users::new(&p);
        let now = Epoch(10_000);
        u.heartbeat(user("K1ABC", "a1", "n", 9_000), now).unwrap();
        u.heartbeat(user("W2XYZ", "b2", "n", 9_990), now).unwrap();
        u.heartbeat(user("K1ABC", "a2", "n", 10_000), now).unwrap();
        let all = u.all().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].id.as_str(), "a2");
        // Far later: the stale one is pruned at the next heartbeat.
        u.heartbeat(user("N0B", "c3", "n", 10_595), Epoch(10_595))
            .unwrap();
        let names: Vec<_> = u
            .all()
            .unwrap()
            .iter()
            .map(|x| x.call_sign.to_string())
            .collect();
        assert_eq!(names, ["N0B", "K1ABC"]);
    }

    #[test]
    fn remote_merge_keeps_newest_and_prunes() {
        let p = temp_paths("rusers");
        let u = Users::new(&p);
        u.merge_remote(
            &[user("A", "1", "x", 100), user("B", "2", "x", 900)],
            Epoch(1000),
        )
        .unwrap();
        u.merge_remote(
            &[user("A", "1", "x", 50), user("B", "2", "x", 950)],
            Epoch(1000),
        )
        .unwrap();
        let all = u.all().unwrap();
        assert_eq!(all.len(), 1, "A is older than the prune window");
        assert_eq!(all[0].epoch, Epoch(950));
    }
}
