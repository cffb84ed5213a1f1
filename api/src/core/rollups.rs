//! The compactor of the daily outcome rollups (`store::rollups`): every instance runs
//! [`compact_forever`] (started in `Application::run_until`, every
//! `DORA_ROLLUP_INTERVAL_SECONDS`), which rebuilds the rollups of the days writes have marked
//! dirty. Reads are exact whatever it has done (a dirty day is read from the outcome rows), so
//! it only decides how fast they are; a stopped or failing compactor leaves days dirty, never
//! wrong.
//!
//! Its work is bounded: a round takes at most [`DAYS_PER_ROUND`] dirty days, in write
//! transactions of [`DAYS_PER_TRANSACTION`], so on SQLite a create waits for at most one short
//! transaction (the writer connection is shared). A round that found a full batch is followed
//! by another at once; otherwise the compactor waits for its next tick.

use std::time::Duration;

use super::{Core, Error};
use crate::store;

/// Dirty days one round reads.
pub const DAYS_PER_ROUND: u64 = 256;

/// Dirty days rebuilt per write transaction.
const DAYS_PER_TRANSACTION: usize = 8;

/// Compacts every `interval` until the task is dropped.
pub async fn compact_forever(core: Core, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        loop {
            match compact_round(&core).await {
                Ok(found) if found as u64 >= DAYS_PER_ROUND => tokio::task::yield_now().await,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot compact the daily outcome rollups");
                    break;
                }
            }
        }
    }
}

/// One round: up to [`DAYS_PER_ROUND`] dirty days, oldest marks first. Answers how many dirty
/// days it found (another compactor may have held some: they stay dirty).
pub async fn compact_round(core: &Core) -> Result<usize, Error> {
    let started = std::time::Instant::now();
    let days = store::rollups::dirty(core.db.read(), DAYS_PER_ROUND).await?;
    let mut rebuilt = 0;
    for batch in days.chunks(DAYS_PER_TRANSACTION) {
        let txn = core.db.begin_write().await?;
        for day in batch {
            if store::rollups::compact(&txn, day).await? {
                rebuilt += 1;
            }
        }
        txn.commit().await?;
    }
    if !days.is_empty() {
        tracing::debug!(
            dirty = days.len(),
            rebuilt,
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "daily outcome rollups compacted"
        );
    }
    Ok(days.len())
}

/// Compacts until no day is dirty (tests and benchmarks; concurrent writers can keep it
/// going). Answers how many rounds it took.
pub async fn compact_all(core: &Core) -> Result<usize, Error> {
    let mut rounds = 0;
    while compact_round(core).await? > 0 {
        rounds += 1;
    }
    Ok(rounds)
}
