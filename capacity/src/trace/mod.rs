//! Hub traces: who starts a server when, for how long, asking for what.
//!
//! A [`Trace`] is the workload the simulator replays: one [`Session`] per
//! server start, sorted by start time. Traces come from a CSV file
//! ([`parse`], written back by [`Trace::to_csv`]; the format is described in
//! `docs/capacity.md`, "Trace files") or from the two seeded generators,
//! [`generate_campus`] and [`generate_mybinder`].
//!
//! # Layout
//! - [`csv`]: the CSV contract, parsed and written.
//! - [`lifetimes`]: server lifetimes fitted to the published distributions.
//! - [`profiles`]: the requests of each profile and how often each is picked.
//! - [`campus`], [`mybinder`]: the two generators; [`generate`] holds what
//!   they share (their options' error, arrival counts).
//!
//! # Compactness
//! A 30-day trace of a large hub holds hundreds of thousands of sessions, so
//! a session is 56 bytes of plain integers: times are `u32` seconds (136
//! years), requests exact `u64` amounts, and user and profile names are
//! interned once per trace ([`UserId`], [`ProfileId`]).

pub mod campus;
pub mod csv;
pub mod generate;
pub mod lifetimes;
pub mod mybinder;
pub mod profiles;

use std::collections::HashMap;

pub use campus::{CampusOptions, ClassBlock, generate_campus};
pub use csv::{TraceError, parse};
pub use generate::GenerateError;
pub use lifetimes::Lifetimes;
pub use mybinder::{MybinderOptions, generate_mybinder};
pub use profiles::{ProfileMix, ProfileShare};

/// One server start: when, for how long, and what it requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Session {
    /// Seconds from the trace's start to the spawn request.
    pub start: u32,
    /// Seconds the server runs once started, until it is stopped or culled
    /// (idle time before the cull included).
    pub duration: u32,
    /// The cpu request in millicores (kube's `MilliValue`, rounded up);
    /// `None` when the server requests no cpu.
    pub cpu: Option<u64>,
    /// The memory request in bytes (kube's `Value`, rounded up); `None` when
    /// the server requests no memory.
    pub memory: Option<u64>,
    /// Who started it, when known (a name in [`Trace::user_name`]).
    pub user: Option<UserId>,
    /// The profile picked, when known (a name in [`Trace::profile_name`]).
    pub profile: Option<ProfileId>,
}

impl Session {
    /// The second the server stops: `start + duration` (exact in a `u64`:
    /// both are `u32`).
    pub fn end(&self) -> u64 {
        u64::from(self.start) + u64::from(self.duration)
    }
}

/// A user's name, interned in its [`Trace`] (an index into its user table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub u32);

/// A profile's name, interned in its [`Trace`] (an index into its profile
/// table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProfileId(pub u32);

/// Why a user or profile name cannot be interned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty; an absent name is `None`, not `""`.
    #[error("a name cannot be empty (leave the field out instead)")]
    Empty,
    /// The name holds a line break, which a trace file cannot carry.
    #[error("name {0:?} contains a line break")]
    LineBreak(String),
    /// More than 2^32 distinct names in one trace.
    #[error("more than 4294967296 distinct names in one trace")]
    TooMany,
}

/// A hub's sessions, sorted by start, with the user and profile names they
/// refer to. Build one with [`TraceBuilder`], [`parse`] or a generator.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Trace {
    sessions: Vec<Session>,
    users: Vec<Box<str>>,
    profiles: Vec<Box<str>>,
}

impl Trace {
    /// The sessions, sorted by start (sessions starting together keep the
    /// order they were added in).
    pub fn sessions(&self) -> &[Session] {
        &self.sessions
    }

    /// How many sessions there are.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether there are no sessions.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// The name of a user of this trace (`None` for an id from another trace).
    pub fn user_name(&self, id: UserId) -> Option<&str> {
        self.users.get(id.0 as usize).map(|name| &**name)
    }

    /// The name of a profile of this trace (`None` for an id from another
    /// trace).
    pub fn profile_name(&self, id: ProfileId) -> Option<&str> {
        self.profiles.get(id.0 as usize).map(|name| &**name)
    }

    /// How many distinct named users the trace has (sessions without a user
    /// are not counted).
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// How many distinct profiles the trace names.
    pub fn profile_count(&self) -> usize {
        self.profiles.len()
    }

    /// The second the last server stops (0 for an empty trace).
    pub fn end(&self) -> u64 {
        self.sessions.iter().map(Session::end).max().unwrap_or(0)
    }
}

/// Builds a [`Trace`]: interns names, collects sessions, sorts them once.
#[derive(Debug, Default)]
pub struct TraceBuilder {
    trace: Trace,
    user_ids: HashMap<Box<str>, UserId>,
    profile_ids: HashMap<Box<str>, ProfileId>,
}

impl TraceBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of user `name`, interning it on first use.
    ///
    /// # Errors
    /// [`NameError`] for an empty name, one with a line break, or past 2^32
    /// names.
    pub fn user(&mut self, name: &str) -> Result<UserId, NameError> {
        intern(&mut self.trace.users, &mut self.user_ids, name, UserId)
    }

    /// The id of profile `name`, interning it on first use.
    ///
    /// # Errors
    /// As [`TraceBuilder::user`].
    pub fn profile(&mut self, name: &str) -> Result<ProfileId, NameError> {
        intern(
            &mut self.trace.profiles,
            &mut self.profile_ids,
            name,
            ProfileId,
        )
    }

    /// Adds a session; its `user` and `profile` must come from this builder.
    pub fn push(&mut self, session: Session) {
        self.trace.sessions.push(session);
    }

    /// How many sessions were added so far.
    pub fn len(&self) -> usize {
        self.trace.sessions.len()
    }

    /// Whether no session was added yet.
    pub fn is_empty(&self) -> bool {
        self.trace.sessions.is_empty()
    }

    /// The trace, its sessions sorted by start (stable: ties keep the order
    /// they were pushed in). Names are renumbered in order of first use by
    /// the sorted sessions and unused ones dropped, so two traces with the
    /// same sessions are equal however their names were interned (a trace
    /// read back from [`Trace::to_csv`] equals the original).
    pub fn finish(self) -> Trace {
        let mut trace = self.trace;
        trace.sessions.sort_by_key(|s| s.start);
        trace.sessions.shrink_to_fit();
        let mut users = Renumber::new(trace.users.len());
        let mut profiles = Renumber::new(trace.profiles.len());
        for s in &mut trace.sessions {
            if let Some(UserId(old)) = s.user {
                s.user = Some(UserId(users.map(old)));
            }
            if let Some(ProfileId(old)) = s.profile {
                s.profile = Some(ProfileId(profiles.map(old)));
            }
        }
        trace.users = users.apply(std::mem::take(&mut trace.users));
        trace.profiles = profiles.apply(std::mem::take(&mut trace.profiles));
        trace
    }
}

/// New ids for a name table, in order of first use.
struct Renumber {
    /// Old id → new id, `u32::MAX` while unused (never a valid id: a table
    /// holds at most 2^32 names, so new ids stay below its length).
    new: Vec<u32>,
    /// New id → old id.
    old: Vec<u32>,
}

impl Renumber {
    fn new(len: usize) -> Self {
        Renumber {
            new: vec![u32::MAX; len],
            old: Vec::new(),
        }
    }

    /// The new id of `old` (an id handed out by the builder, so in range).
    fn map(&mut self, old: u32) -> u32 {
        let slot = &mut self.new[old as usize];
        if *slot == u32::MAX {
            // At most as many new ids as old ones, which fit a u32.
            *slot = self.old.len() as u32;
            self.old.push(old);
        }
        *slot
    }

    /// The table in new-id order, unused names dropped.
    fn apply(self, mut table: Vec<Box<str>>) -> Vec<Box<str>> {
        self.old
            .iter()
            .map(|&old| std::mem::take(&mut table[old as usize]))
            .collect()
    }
}

/// Interns `name` in `table`, indexed by `ids`.
fn intern<Id: Copy>(
    table: &mut Vec<Box<str>>,
    ids: &mut HashMap<Box<str>, Id>,
    name: &str,
    make: fn(u32) -> Id,
) -> Result<Id, NameError> {
    if let Some(&id) = ids.get(name) {
        return Ok(id);
    }
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.contains(['\n', '\r']) {
        return Err(NameError::LineBreak(name.to_string()));
    }
    let id = make(u32::try_from(table.len()).map_err(|_| NameError::TooMany)?);
    table.push(name.into());
    ids.insert(name.into(), id);
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_is_compact() {
        assert_eq!(std::mem::size_of::<Session>(), 56);
    }

    #[test]
    fn builder_interns_and_sorts_stably() {
        let mut b = TraceBuilder::new();
        let unused = b.profile("unused").unwrap();
        let alice = b.user("alice").unwrap();
        let bob = b.user("bob").unwrap();
        assert_eq!(b.user("alice").unwrap(), alice);
        assert_ne!(alice, bob);
        let small = b.profile("small").unwrap();
        assert_ne!(small, unused);
        let s = |start, user| Session {
            start,
            duration: 10,
            cpu: None,
            memory: Some(1),
            user: Some(user),
            profile: Some(small),
        };
        b.push(s(50, alice));
        b.push(s(10, bob));
        b.push(s(50, bob));
        assert_eq!(b.len(), 3);
        let t = b.finish();
        let order: Vec<_> = t
            .sessions()
            .iter()
            .map(|s| (s.start, s.user.and_then(|u| t.user_name(u))))
            .collect();
        assert_eq!(
            order,
            [(10, Some("bob")), (50, Some("alice")), (50, Some("bob"))]
        );
        // Renumbered by first use in start order: bob starts first.
        assert_eq!(t.user_name(UserId(0)), Some("bob"));
        assert_eq!(t.user_name(UserId(1)), Some("alice"));
        assert_eq!(t.user_name(UserId(9)), None);
        assert_eq!(
            t.profile_name(ProfileId(0)),
            Some("small"),
            "the unused profile is dropped"
        );
        assert_eq!((t.user_count(), t.profile_count()), (2, 1));
        assert_eq!(t.end(), 60);
        assert_eq!(Trace::default().end(), 0);
    }

    #[test]
    fn bad_names_are_refused() {
        let mut b = TraceBuilder::new();
        assert_eq!(b.user(""), Err(NameError::Empty));
        assert_eq!(
            b.profile("a\nb"),
            Err(NameError::LineBreak("a\nb".to_string()))
        );
        assert_eq!(
            Session::end(&Session {
                start: u32::MAX,
                duration: u32::MAX,
                cpu: None,
                memory: None,
                user: None,
                profile: None,
            }),
            2 * u64::from(u32::MAX)
        );
    }
}
