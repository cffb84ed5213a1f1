//! Group commit of concurrent creates (`DORA_GROUP_COMMIT`).
//!
//! A create hands its work to [`GroupCommit::run`] and waits for its answer. A writer takes the
//! creates that are waiting (at most [`BATCH_CAP`]), writes them in ONE write transaction and
//! COMMITs once. First the batch write (`core::create_batch`): the creates that fit are
//! written together with multi-row statements; the others (GitHub details, commits to infer,
//! an organization with webhook subscriptions) then run each inside its own SAVEPOINT. If the
//! batch write fails, the transaction is rolled back and every create runs in its own
//! SAVEPOINT of a new one, so one bad create still fails alone: on SQLite, where every commit waits for an
//! fsync on the one writer connection, many creates then share one fsync. A create that fails
//! rolls back to its savepoint and answers its own error at once; the others are answered only
//! after the COMMIT succeeded (a failed COMMIT answers every one of them an error, and none of
//! their work is stored). Nothing waits for a batch to fill: a create that finds no one else
//! waiting runs at once, alone, in a transaction of its own without a savepoint, exactly as
//! without group commit.
//!
//! The traps:
//! - Two creates with the same idempotency key never share a batch: the second would see the
//!   first's uncommitted claim (see `core::idempotency`); it waits for the next batch.
//! - PostgreSQL: the creates of one stream (repository key, environment) always go to the same
//!   writer ("lane"), so two batches of one instance never take the same stream's advisory
//!   locks; a batch runs its creates sorted by stream, so batches of several instances take
//!   them in one order. A create that PostgreSQL still aborts to break a deadlock or a
//!   serialization conflict ([`Error::Contended`]) is run again alone after the batch.
//! - PostgreSQL: the deployment numbers of a batch are reserved by its writer before the
//!   batch's transaction, one short transaction per organization (not one per create).
//! - SQLite: one lane; the batch's transaction is `BEGIN IMMEDIATE` like every write
//!   (`store::Db::begin_write`).
//!
//! The work runs on a spawned task, so a client that goes away does not cancel a batch that
//! others share.

use std::{
    collections::{HashSet, VecDeque},
    hash::{Hash, Hasher},
    sync::{Arc, Mutex},
};

use futures_util::future::BoxFuture;
use sea_orm::{DatabaseTransaction, DbBackend, DbErr, TransactionTrait};
use uuid::Uuid;

use super::{
    Error,
    create_batch::{self, BatchCreate, Written},
};
use crate::store::Db;

/// The most creates one transaction takes.
pub const BATCH_CAP: usize = 64;

/// How often a create that PostgreSQL aborted for contention is tried alone.
const ALONE_ATTEMPTS: usize = 3;

/// `DORA_GROUP_COMMIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupCommitMode {
    /// On, for both databases: with the batch write (`core::create_batch`) it measured about
    /// twice as fast as off with 32 clients on each (issue 14), and no slower for one client.
    Auto,
    On,
    Off,
}

impl GroupCommitMode {
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "auto" => Some(Self::Auto),
            "on" => Some(Self::On),
            "off" => Some(Self::Off),
            _ => None,
        }
    }

    fn enabled(self, backend: DbBackend) -> bool {
        match self {
            Self::On => true,
            Self::Off => false,
            Self::Auto => matches!(backend, DbBackend::Sqlite | DbBackend::Postgres),
        }
    }
}

/// What a member's work did.
pub(crate) enum Ran {
    /// It wrote: answer once the transaction has committed.
    Wrote,
    /// It wrote nothing (an idempotent replay of a committed answer): answer at once.
    Nothing,
}

/// One create waiting for a writer.
pub(crate) trait Member: Send {
    /// Its stream (repository key, environment): the lane and the order within a batch.
    fn stream(&self) -> (&str, &str);
    /// Its idempotency key (organization, key), which no other member of its batch may have.
    fn exclusive(&self) -> Option<(Uuid, &str)>;
    /// Does the work in `txn` (which may be a savepoint of a shared transaction); may run
    /// again after a failed attempt.
    fn run<'a>(&'a mut self, txn: &'a DatabaseTransaction) -> BoxFuture<'a, Result<Ran, Error>>;
    /// Its organization, while it has no deployment number yet: on PostgreSQL the writer
    /// reserves the numbers of a batch at once (`store::deployments::reserve_numbers`).
    fn unnumbered(&self) -> Option<Uuid> {
        None
    }
    /// Takes the number reserved for it.
    fn numbered(&mut self, _number: i64) {}
    /// The create it is, for the batch write (`core::deployments::write_batch`).
    fn as_create(&mut self) -> Option<&mut dyn BatchCreate> {
        None
    }
    /// Answers the caller: `Ok` once the work is committed (or wrote nothing).
    fn answer(self: Box<Self>, outcome: Result<(), Error>);
}

/// The writers of one instance (held by `Core`). Cheap to clone.
#[derive(Clone)]
pub struct GroupCommit {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    enabled: bool,
    /// Set when a create was answered that the database is unavailable: its writer then
    /// answers the same to every create waiting in its lane at once, so none waits for a
    /// database that is gone twice (once behind the failing batch, once in its own).
    down: std::sync::atomic::AtomicBool,
    lanes: Vec<Mutex<Lane>>,
}

#[derive(Default)]
struct Lane {
    waiting: VecDeque<Box<dyn Member>>,
    /// Whether a writer works on this lane.
    writing: bool,
}

impl GroupCommit {
    /// `max_connections` of the PostgreSQL pool bounds the lanes (half of them: reads and
    /// the deployment numbers need connections too); SQLite has one writer, so one lane.
    pub fn new(db: Db, mode: GroupCommitMode, max_connections: u32) -> Self {
        let backend = db.backend();
        let lanes = match backend {
            DbBackend::Postgres => (max_connections / 2).max(1) as usize,
            _ => 1,
        };
        Self {
            inner: Arc::new(Inner {
                enabled: mode.enabled(backend),
                down: std::sync::atomic::AtomicBool::new(false),
                db,
                lanes: (0..lanes).map(|_| Mutex::new(Lane::default())).collect(),
            }),
        }
    }

    pub fn enabled(&self) -> bool {
        self.inner.enabled
    }

    /// Whether the writers reserve the deployment numbers of the creates they run (PostgreSQL,
    /// with group commit): one short transaction per organization of a batch instead of one
    /// per create (`store::deployments::reserve_number` says why numbers are reserved before
    /// the create's transaction). The creates then come without a number.
    pub fn reserves_numbers(&self) -> bool {
        self.inner.enabled && self.inner.db.backend() == DbBackend::Postgres
    }

    /// Runs `member`: with group commit, by a writer (possibly with others); without, here,
    /// alone. The member answers through its own channel.
    pub(crate) async fn run(&self, member: Box<dyn Member>) {
        if !self.inner.enabled {
            self.inner.run_alone(member).await;
            return;
        }
        let lane = self.inner.lane_of(member.as_ref());
        let start = {
            let mut state = self.inner.lane(lane);
            state.waiting.push_back(member);
            !std::mem::replace(&mut state.writing, true)
        };
        if start {
            tokio::spawn(Writer::new(self.inner.clone(), lane).work());
        }
    }
}

impl Inner {
    /// Lane `i`'s state. Nothing panics while holding it, so a poisoned lock's state is whole.
    fn lane(&self, i: usize) -> std::sync::MutexGuard<'_, Lane> {
        self.lanes[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_down(&self) {
        self.down.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// After a batch that found the database unavailable: answers every create waiting in
    /// `lane` the same.
    fn fail_waiting(&self, lane: usize) {
        if !self.down.swap(false, std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let waiting = std::mem::take(&mut self.lane(lane).waiting);
        for member in waiting {
            member.answer(Err(Error::Unavailable(
                "the database is unavailable".to_owned(),
            )));
        }
    }

    fn lane_of(&self, member: &dyn Member) -> usize {
        if self.lanes.len() == 1 {
            return 0;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        member.stream().hash(&mut hasher);
        (hasher.finish() % self.lanes.len() as u64) as usize
    }

    /// The members waiting in `lane`, at most [`BATCH_CAP`], no two with one idempotency key
    /// (those stay, in order, for the next batch).
    fn take(&self, lane: usize) -> Vec<Box<dyn Member>> {
        let mut state = self.lane(lane);
        let mut batch = Vec::new();
        let mut keys: HashSet<(Uuid, String)> = HashSet::new();
        let mut left = VecDeque::new();
        while let Some(member) = state.waiting.pop_front() {
            if batch.len() == BATCH_CAP {
                state.waiting.push_front(member);
                break;
            }
            let fresh = match member.exclusive() {
                Some((org, key)) => keys.insert((org, key.to_owned())),
                None => true,
            };
            if fresh {
                batch.push(member);
            } else {
                left.push_back(member);
            }
        }
        while let Some(member) = left.pop_back() {
            state.waiting.push_front(member);
        }
        batch
    }

    /// One member in a transaction of its own, tried again (alone) while PostgreSQL aborts it
    /// for contention.
    async fn run_alone(&self, mut member: Box<dyn Member>) {
        let mut attempt = 1;
        loop {
            match self.attempt_alone(member.as_mut()).await {
                Err(Error::Contended(_)) if attempt < ALONE_ATTEMPTS => attempt += 1,
                outcome => {
                    if let Err(Error::Unavailable(_)) = &outcome {
                        self.set_down();
                    }
                    return member.answer(outcome);
                }
            }
        }
    }

    async fn attempt_alone(&self, member: &mut dyn Member) -> Result<(), Error> {
        let txn = self.db.begin_write().await?;
        match member.run(&txn).await {
            Ok(Ran::Wrote) => Ok(txn.commit().await?),
            Ok(Ran::Nothing) => Ok(txn.rollback().await?),
            Err(e) => {
                // A failed rollback (the connection is gone) takes the transaction with it.
                let _ = txn.rollback().await;
                Err(e)
            }
        }
    }

    /// Reserves the numbers of the members that have none, per organization in batch order,
    /// in one short transaction each; a member whose numbers could not be reserved is
    /// answered the error. Answers the members ready to run.
    async fn number(&self, batch: Vec<Box<dyn Member>>) -> Vec<Box<dyn Member>> {
        let mut wanted: Vec<(Uuid, usize)> = Vec::new();
        for member in &batch {
            if let Some(org) = member.unnumbered() {
                match wanted.iter_mut().find(|(o, _)| *o == org) {
                    Some((_, n)) => *n += 1,
                    None => wanted.push((org, 1)),
                }
            }
        }
        if wanted.is_empty() {
            return batch;
        }
        let mut next: Vec<(Uuid, Result<i64, Error>)> = Vec::with_capacity(wanted.len());
        for (org, n) in wanted {
            let first = crate::store::deployments::reserve_numbers(&self.db, org, n)
                .await
                .map_err(Error::from)
                .and_then(|first| {
                    first.ok_or_else(|| Error::internal("no numbers reserved for the batch"))
                });
            next.push((org, first));
        }
        let mut ready = Vec::with_capacity(batch.len());
        for mut member in batch {
            let Some(org) = member.unnumbered() else {
                ready.push(member);
                continue;
            };
            match next.iter_mut().find(|(o, _)| *o == org).map(|(_, n)| n) {
                Some(Ok(number)) => {
                    member.numbered(*number);
                    *number += 1;
                    ready.push(member);
                }
                Some(Err(e)) => {
                    let e = match e {
                        Error::Unavailable(cause) => {
                            self.set_down();
                            Error::Unavailable(cause.clone())
                        }
                        Error::Contended(cause) => Error::Contended(cause.clone()),
                        other => Error::Internal(other.to_string()),
                    };
                    member.answer(Err(e));
                }
                None => ready.push(member),
            }
        }
        ready
    }

    /// Runs `batch` in one transaction (a batch of one: alone, without a savepoint).
    async fn run_batch(&self, mut batch: Vec<Box<dyn Member>>) {
        batch.sort_by(|a, b| a.stream().cmp(&b.stream()));
        if self.db.backend() == DbBackend::Postgres {
            batch = self.number(batch).await;
        }
        if batch.is_empty() {
            return;
        }
        if batch.len() == 1 {
            if let Some(member) = batch.pop() {
                self.run_alone(member).await;
            }
            return;
        }
        let txn = match self.db.begin_write().await {
            Ok(txn) => txn,
            Err(e) => return answer_all_of(Some(self), batch, &e),
        };
        // The batch write first; if it fails, the batch again, one member per savepoint.
        let places = batch.len();
        let creates = batch
            .iter_mut()
            .enumerate()
            .filter_map(|(i, member)| member.as_create().map(|c| (i, c)))
            .collect();
        let written = create_batch::write_batch(&txn, places, creates).await;
        let (txn, wrote, rest) = match written {
            Ok(results) => {
                let mut wrote = Vec::with_capacity(batch.len());
                let mut rest = Vec::new();
                for (member, result) in batch.into_iter().zip(results) {
                    match result {
                        None => rest.push(member),
                        Some(Written::Wrote) => wrote.push(member),
                        Some(Written::Replayed) => member.answer(Ok(())),
                        Some(Written::Refused(e)) => member.answer(Err(e)),
                    }
                }
                (txn, wrote, rest)
            }
            Err(Error::Unavailable(cause)) => {
                // The database is gone: running the batch again would only wait for it again.
                let _ = txn.rollback().await;
                self.set_down();
                for member in batch {
                    member.answer(Err(Error::Unavailable(cause.clone())));
                }
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, members = batch.len(), "batch write failed; one savepoint per create");
                if let Err(e) = txn.rollback().await {
                    return answer_all_of(Some(self), batch, &e);
                }
                match self.db.begin_write().await {
                    Ok(txn) => (txn, Vec::new(), batch),
                    Err(e) => return answer_all_of(Some(self), batch, &e),
                }
            }
        };
        self.finish_batch(txn, wrote, rest).await;
    }

    /// Runs `rest` in `txn`, each in its own savepoint, after `wrote` (written already), then
    /// commits and answers them.
    async fn finish_batch(
        &self,
        txn: DatabaseTransaction,
        mut wrote: Vec<Box<dyn Member>>,
        rest: Vec<Box<dyn Member>>,
    ) {
        let mut again = Vec::new();
        let mut members = rest.into_iter();
        while let Some(mut member) = members.next() {
            let savepoint = match txn.begin().await {
                Ok(savepoint) => savepoint,
                Err(e) => {
                    // The connection failed: nothing of the batch will be stored.
                    drop(txn);
                    return answer_all_of(
                        Some(self),
                        wrote.into_iter().chain(Some(member)).chain(members),
                        &e,
                    );
                }
            };
            let ran = member.run(&savepoint).await;
            let ended = match &ran {
                Ok(_) => savepoint.commit().await,
                Err(_) => savepoint.rollback().await,
            };
            if let Err(e) = ended {
                drop(txn);
                return answer_all_of(
                    Some(self),
                    wrote.into_iter().chain(Some(member)).chain(members),
                    &e,
                );
            }
            match ran {
                Ok(Ran::Wrote) => wrote.push(member),
                Ok(Ran::Nothing) => member.answer(Ok(())),
                Err(Error::Contended(_)) => again.push(member),
                Err(e) => member.answer(Err(e)),
            }
        }
        if wrote.is_empty() {
            let _ = txn.rollback().await;
        } else {
            match txn.commit().await {
                Ok(()) => {
                    for member in wrote {
                        member.answer(Ok(()));
                    }
                }
                Err(e) => answer_all_of(Some(self), wrote, &e),
            }
        }
        for member in again {
            self.run_alone(member).await;
        }
    }
}

/// Answers every member the error that ended their shared transaction (by a writer of
/// `inner`).
fn answer_all_of(
    inner: Option<&Inner>,
    members: impl IntoIterator<Item = Box<dyn Member>>,
    err: &DbErr,
) {
    let unavailable = crate::store::db::is_unavailable(err);
    if unavailable && let Some(inner) = inner {
        inner.set_down();
    }
    let cause = err.to_string();
    for member in members {
        member.answer(Err(if unavailable {
            Error::Unavailable(cause.clone())
        } else {
            Error::Internal(cause.clone())
        }));
    }
}

/// A lane's writer: runs batches until no one waits. If it dies (a panic in a member's work),
/// its lane gets a new writer for the members still waiting.
struct Writer {
    inner: Arc<Inner>,
    lane: usize,
    done: bool,
}

impl Writer {
    fn new(inner: Arc<Inner>, lane: usize) -> Self {
        Self {
            inner,
            lane,
            done: false,
        }
    }

    async fn work(mut self) {
        loop {
            let batch = self.inner.take(self.lane);
            if batch.is_empty() {
                let mut state = self.inner.lane(self.lane);
                if state.waiting.is_empty() {
                    state.writing = false;
                    self.done = true;
                    return;
                }
                continue;
            }
            self.inner.run_batch(batch).await;
            self.inner.fail_waiting(self.lane);
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut state = self.inner.lane(self.lane);
        if state.waiting.is_empty() {
            state.writing = false;
        } else if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            drop(state);
            runtime.spawn(Writer::new(self.inner.clone(), self.lane).work());
        } else {
            state.writing = false;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use sea_orm::ConnectionTrait;
    use tokio::sync::oneshot;

    use super::*;
    use crate::{
        domain::Secret,
        store::db::{DbOptions, Synchronous},
    };

    /// Inserts a row: `p(id)`, or with a parent, `c(id, parent)` whose foreign key is checked
    /// only at COMMIT.
    struct Insert {
        id: i64,
        parent: Option<i64>,
        key: Option<String>,
        answer: Option<oneshot::Sender<Result<(), Error>>>,
    }

    impl Member for Insert {
        fn stream(&self) -> (&str, &str) {
            ("", "")
        }
        fn exclusive(&self) -> Option<(Uuid, &str)> {
            self.key.as_deref().map(|k| (Uuid::nil(), k))
        }
        fn run<'a>(
            &'a mut self,
            txn: &'a DatabaseTransaction,
        ) -> BoxFuture<'a, Result<Ran, Error>> {
            Box::pin(async move {
                let sql = match self.parent {
                    None => format!("INSERT INTO p (id) VALUES ({})", self.id),
                    Some(parent) => format!("INSERT INTO c (id, p) VALUES ({}, {parent})", self.id),
                };
                txn.execute_unprepared(&sql).await?;
                Ok(Ran::Wrote)
            })
        }
        fn answer(mut self: Box<Self>, outcome: Result<(), Error>) {
            if let Some(answer) = self.answer.take() {
                let _ = answer.send(outcome);
            }
        }
    }

    async fn database() -> Db {
        let db = Db::connect(&DbOptions {
            url: Secret::new("sqlite::memory:"),
            max_connections: 1,
            synchronous: Synchronous::Full,
        })
        .await
        .unwrap();
        db.read()
            .execute_unprepared(
                "CREATE TABLE p (id INTEGER PRIMARY KEY); \
                 CREATE TABLE c (id INTEGER PRIMARY KEY, \
                   p INTEGER REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED);",
            )
            .await
            .unwrap();
        db
    }

    type Queued = (Box<Insert>, oneshot::Receiver<Result<(), Error>>);

    fn insert(id: i64, parent: Option<i64>) -> Queued {
        let (answer, answered) = oneshot::channel();
        let member = Insert {
            id,
            parent,
            key: None,
            answer: Some(answer),
        };
        (Box::new(member), answered)
    }

    async fn rows(db: &Db, table: &str) -> i64 {
        let row = db
            .read()
            .query_one_raw(sea_orm::Statement::from_string(
                DbBackend::Sqlite,
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get("", "n").unwrap()
    }

    /// Queues every member before the writer runs (a current-thread runtime runs the spawned
    /// writer only when the test awaits), so they form one batch; returns their answers.
    async fn one_batch(group: &GroupCommit, members: Vec<Queued>) -> Vec<Result<(), Error>> {
        let mut answered = Vec::new();
        for (member, receiver) in members {
            group.run(member).await;
            answered.push(receiver);
        }
        let mut answers = Vec::new();
        for receiver in answered {
            answers.push(receiver.await.expect("answered"));
        }
        answers
    }

    #[tokio::test]
    async fn a_failed_commit_answers_every_member_an_error_and_stores_nothing() {
        let db = database().await;
        let group = GroupCommit::new(db.clone(), GroupCommitMode::On, 1);
        // Five good rows and one whose parent does not exist: its statement succeeds, the
        // deferred foreign key fails the COMMIT.
        let mut members: Vec<_> = (1..=5).map(|id| insert(id, None)).collect();
        members.push(insert(100, Some(999)));
        let answers = one_batch(&group, members).await;
        assert_eq!(answers.len(), 6);
        for answer in &answers {
            assert!(matches!(answer, Err(Error::Internal(_))), "{answer:?}");
        }
        assert_eq!(rows(&db, "p").await, 0);
        assert_eq!(rows(&db, "c").await, 0);
        // The writer connection is usable afterwards.
        let answers = one_batch(&group, vec![insert(1, None), insert(2, None)]).await;
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        assert_eq!(rows(&db, "p").await, 2);
    }

    #[tokio::test]
    async fn a_failing_statement_rolls_back_its_member_alone() {
        let db = database().await;
        let group = GroupCommit::new(db.clone(), GroupCommitMode::On, 1);
        let mut members: Vec<_> = (1..=5).map(|id| insert(id, None)).collect();
        members.insert(3, insert(2, None)); // a duplicate primary key
        members.push(insert(100, Some(1)));
        let answers = one_batch(&group, members).await;
        let failed: Vec<usize> = answers
            .iter()
            .enumerate()
            .filter(|(_, a)| a.is_err())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(failed, vec![3]);
        assert_eq!(rows(&db, "p").await, 5);
        assert_eq!(rows(&db, "c").await, 1);
    }

    #[tokio::test]
    async fn members_with_one_idempotency_key_never_share_a_batch() {
        let db = database().await;
        let group = GroupCommit::new(db, GroupCommitMode::On, 1);
        let keyed = |id: i64, key: Option<&str>| {
            let (mut member, _) = insert(id, None);
            member.key = key.map(str::to_owned);
            member as Box<dyn Member>
        };
        {
            let mut lane = group.inner.lanes[0].lock().unwrap();
            for (id, key) in [
                (1, Some("a")),
                (2, Some("a")),
                (3, None),
                (4, Some("b")),
                (5, Some("a")),
                (6, None),
            ] {
                lane.waiting.push_back(keyed(id, key));
            }
        }
        let ids = |batch: &[Box<dyn Member>]| -> Vec<Option<String>> {
            batch
                .iter()
                .map(|m| m.exclusive().map(|(_, k)| k.to_owned()))
                .collect()
        };
        let first = group.inner.take(0);
        assert_eq!(
            ids(&first),
            vec![Some("a".into()), None, Some("b".into()), None]
        );
        let second = group.inner.take(0);
        assert_eq!(ids(&second), vec![Some("a".into())]);
        let third = group.inner.take(0);
        assert_eq!(ids(&third), vec![Some("a".into())]);
        assert!(group.inner.take(0).is_empty());
    }

    #[tokio::test]
    async fn a_batch_takes_at_most_the_cap() {
        let db = database().await;
        let group = GroupCommit::new(db, GroupCommitMode::On, 1);
        {
            let mut lane = group.inner.lanes[0].lock().unwrap();
            for id in 0..(BATCH_CAP as i64 + 5) {
                lane.waiting.push_back(insert(id, None).0);
            }
        }
        assert_eq!(group.inner.take(0).len(), BATCH_CAP);
        assert_eq!(group.inner.take(0).len(), 5);
    }

    #[test]
    fn modes() {
        assert!(GroupCommitMode::parse("AUTO") == Some(GroupCommitMode::Auto));
        assert!(GroupCommitMode::Auto.enabled(DbBackend::Sqlite));
        assert!(GroupCommitMode::Auto.enabled(DbBackend::Postgres));
        assert!(GroupCommitMode::On.enabled(DbBackend::Postgres));
        assert!(!GroupCommitMode::Off.enabled(DbBackend::Sqlite));
        assert_eq!(GroupCommitMode::parse("sometimes"), None);
    }
}
