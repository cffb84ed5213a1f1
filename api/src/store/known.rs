//! Repositories and members already stored, remembered per organization so recording a
//! deployment need not look them up again (the two SELECTs were a third of a create's
//! statements). Only what never changes once stored is relied on: ids, and a repository's
//! URL, key and name. A repository's `team` can change (from another instance too), so it
//! is never taken from here: a request naming a team writes it with one conditional
//! UPDATE, a request without one reads the repository as before.
//!
//! Entries are added only after the transaction that used them committed, so an id from
//! a rolled-back insert is never remembered. Organizations, repositories and members are
//! never deleted while the service runs (deleting an organization cascades to both).

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use entity::repositories;
use uuid::Uuid;

/// Beyond this many entries of a kind the memory is cleared (a cap against a client that
/// invents a new member id per request; a miss only costs the old lookup).
const MAX_ENTRIES: usize = 100_000;

#[derive(Clone, Default, Debug)]
pub struct Known {
    /// (organization, repository key) → the repository as stored (its `team` is not used).
    repositories: Arc<RwLock<HashMap<(Uuid, String), repositories::Model>>>,
    /// (organization, member external id) → member id.
    members: Arc<RwLock<HashMap<(Uuid, String), Uuid>>>,
}

impl Known {
    pub fn repository(&self, organization_id: Uuid, key: &str) -> Option<repositories::Model> {
        let map = self.repositories.read().unwrap_or_else(|e| e.into_inner());
        map.get(&(organization_id, key.to_owned())).cloned()
    }

    pub fn member(&self, organization_id: Uuid, external_id: &str) -> Option<Uuid> {
        let map = self.members.read().unwrap_or_else(|e| e.into_inner());
        map.get(&(organization_id, external_id.to_owned())).copied()
    }

    /// Call after the transaction that read or created them committed.
    pub fn remember(&self, repository: &repositories::Model, member: Option<(Uuid, &str)>) {
        let key = (repository.organization_id, repository.key.clone());
        {
            let mut map = self.repositories.write().unwrap_or_else(|e| e.into_inner());
            if !map.contains_key(&key) {
                if map.len() >= MAX_ENTRIES {
                    map.clear();
                }
                map.insert(key, repository.clone());
            }
        }
        if let Some((member_id, external_id)) = member {
            let key = (repository.organization_id, external_id.to_owned());
            let mut map = self.members.write().unwrap_or_else(|e| e.into_inner());
            if !map.contains_key(&key) {
                if map.len() >= MAX_ENTRIES {
                    map.clear();
                }
                map.insert(key, member_id);
            }
        }
    }
}
