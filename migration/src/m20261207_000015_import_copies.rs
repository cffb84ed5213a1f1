//! A commit row's copies of its deployment's columns (migration 000006) are filled by the
//! trigger only when the writer did not give them (`organization_id IS NULL`): the bulk import
//! (`POST /api/v1/deployments/import`) writes them itself with its multi-row inserts, and the
//! per-row trigger (a read of the deployment per commit row on PostgreSQL, an UPDATE of the
//! row just inserted on SQLite) was a large share of the import's time. Every other writer
//! leaves them out, and the trigger fills them as before.
//!
//! `down` restores migration 000006's trigger.

use sea_orm_migration::prelude::*;

use crate::m20261130_000006_commit_streams::{drop_fill_trigger, fill_trigger};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// When the trigger fills a new row's copies.
const WHEN: &str = "NEW.organization_id IS NULL";

async fn replace(manager: &SchemaManager<'_>, when: Option<&str>) -> Result<(), DbErr> {
    let backend = manager.get_database_backend();
    let conn = manager.get_connection();
    conn.execute_unprepared(drop_fill_trigger(backend)).await?;
    for statement in fill_trigger(backend, when) {
        conn.execute_unprepared(&statement).await?;
    }
    Ok(())
}

// The trait's signature elides the manager's lifetime.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace(manager, Some(WHEN)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace(manager, None).await
    }
}
