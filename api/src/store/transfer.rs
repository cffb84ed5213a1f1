//! One organization's rows as a stream of records, for `dora-tracker export` and `import`
//! (`core::transfer`). Tables are read one after the other, each by one streamed query (never
//! loaded whole), in an order where every row comes after the rows it refers to, so an import
//! can insert them as they come. Written back as they were, except the internal keys other
//! organizations' rows share a sequence with (`deployments.seq`, status and audit ids), which
//! the target database hands out afresh in the same order. Derived outcomes are not exported:
//! the import re-derives them (`outcomes::organization_rederived`).

use std::collections::BTreeMap;

use entity::{
    audit_log, deploy_hook_triggers, deploy_hooks, deployment_commits, deployment_statuses,
    deployments, dora_tiers, github_deployments, idempotency_keys, incidents, inferred_commits,
    integration_deliveries, integrations, members, organizations, push_commits, pushes,
    repositories, source_incidents, source_objects, trust_policies, webhook_subscriptions,
};
use futures_util::TryStreamExt;
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    Iterable, QueryFilter, QueryOrder, QuerySelect, StreamTrait,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What the first line of an export says.
pub const FORMAT: &str = "dora-tracker-export";
/// The version of the record shapes (bumped when a table's columns change incompatibly).
pub const VERSION: u32 = 1;

/// The first line of an export.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub organization: String,
    pub exported_at: chrono::DateTime<chrono::Utc>,
}

/// Records of each kind, by kind (`Record::kind`).
pub type Counts = BTreeMap<String, u64>;

/// One line of an export: `{"kind": "...", "data": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Record {
    Header(Header),
    Organization(organizations::Model),
    Repository(repositories::Model),
    Member(members::Model),
    TrustPolicy(trust_policies::Model),
    Integration(integrations::Model),
    WebhookSubscription(webhook_subscriptions::Model),
    IntegrationDelivery(integration_deliveries::Model),
    Push(pushes::Model),
    PushCommit(push_commits::Model),
    Deployment(deployments::Model),
    DeploymentCommit(deployment_commits::Model),
    DeploymentStatus(deployment_statuses::Model),
    GithubDeployment(github_deployments::Model),
    InferredCommits(inferred_commits::Model),
    DeployHook(deploy_hooks::Model),
    DeployHookTrigger(deploy_hook_triggers::Model),
    Incident(incidents::Model),
    SourceObject(source_objects::Model),
    SourceIncident(source_incidents::Model),
    AuditEntry(audit_log::Model),
    /// The last line: how many records of each kind came before (a truncated file has none).
    End(Counts),
}

impl Record {
    /// The `kind` of its line.
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Header(_) => "header",
            Record::Organization(_) => "organization",
            Record::Repository(_) => "repository",
            Record::Member(_) => "member",
            Record::TrustPolicy(_) => "trust_policy",
            Record::Integration(_) => "integration",
            Record::WebhookSubscription(_) => "webhook_subscription",
            Record::IntegrationDelivery(_) => "integration_delivery",
            Record::Push(_) => "push",
            Record::PushCommit(_) => "push_commit",
            Record::Deployment(_) => "deployment",
            Record::DeploymentCommit(_) => "deployment_commit",
            Record::DeploymentStatus(_) => "deployment_status",
            Record::GithubDeployment(_) => "github_deployment",
            Record::InferredCommits(_) => "inferred_commits",
            Record::DeployHook(_) => "deploy_hook",
            Record::DeployHookTrigger(_) => "deploy_hook_trigger",
            Record::Incident(_) => "incident",
            Record::SourceObject(_) => "source_object",
            Record::SourceIncident(_) => "source_incident",
            Record::AuditEntry(_) => "audit_entry",
            Record::End(_) => "end",
        }
    }

    /// Moves a row to the organization `id` (an import into an organization of the target
    /// database whose id differs). Rows without an organization column follow their parent.
    pub fn set_organization(&mut self, id: Uuid) {
        match self {
            Record::Organization(m) => m.id = id,
            Record::Repository(m) => m.organization_id = id,
            Record::Member(m) => m.organization_id = id,
            Record::TrustPolicy(m) => m.organization_id = id,
            Record::Integration(m) => m.organization_id = id,
            Record::WebhookSubscription(m) => m.organization_id = id,
            Record::Push(m) => m.organization_id = id,
            Record::Deployment(m) => m.organization_id = id,
            Record::DeploymentStatus(m) => m.organization_id = id,
            Record::InferredCommits(m) => m.organization_id = id,
            Record::DeployHook(m) => m.organization_id = id,
            Record::Incident(m) => m.organization_id = id,
            Record::SourceObject(m) => m.organization_id = id,
            Record::SourceIncident(m) => m.organization_id = id,
            Record::AuditEntry(m) => m.organization_id = id,
            Record::Header(_)
            | Record::End(_)
            | Record::IntegrationDelivery(_)
            | Record::PushCommit(_)
            | Record::DeploymentCommit(_)
            | Record::GithubDeployment(_)
            | Record::DeployHookTrigger(_) => {}
        }
    }
}

/// Streams every row of `organization` into `sink`, table by table (see the module doc), from
/// `conn` (a snapshot transaction, so the export is consistent). The header and end lines
/// are the caller's.
pub async fn export<C, F>(
    conn: &C,
    organization: &organizations::Model,
    sink: &mut F,
) -> Result<(), DbErr>
where
    C: ConnectionTrait + StreamTrait,
    F: FnMut(Record) -> Result<(), DbErr>,
{
    let org = organization.id;
    sink(Record::Organization(organization.clone()))?;

    macro_rules! each {
        ($query:expr, $variant:ident) => {{
            let mut rows = $query.stream(conn).await?;
            while let Some(row) = rows.try_next().await? {
                sink(Record::$variant(row))?;
            }
        }};
    }

    each!(
        repositories::Entity::find()
            .filter(repositories::Column::OrganizationId.eq(org))
            .order_by_asc(repositories::Column::Id),
        Repository
    );
    each!(
        members::Entity::find()
            .filter(members::Column::OrganizationId.eq(org))
            .order_by_asc(members::Column::Id),
        Member
    );
    each!(
        trust_policies::Entity::find()
            .filter(trust_policies::Column::OrganizationId.eq(org))
            .order_by_asc(trust_policies::Column::Id),
        TrustPolicy
    );
    each!(
        integrations::Entity::find()
            .filter(integrations::Column::OrganizationId.eq(org))
            .order_by_asc(integrations::Column::Id),
        Integration
    );
    // Where events go (the outbox's deliveries are not exported: they are sent or not).
    each!(
        webhook_subscriptions::Entity::find()
            .filter(webhook_subscriptions::Column::OrganizationId.eq(org))
            .order_by_asc(webhook_subscriptions::Column::Id),
        WebhookSubscription
    );
    each!(
        integration_deliveries::Entity::find()
            .inner_join(integrations::Entity)
            .filter(integrations::Column::OrganizationId.eq(org))
            .order_by_asc(integration_deliveries::Column::IntegrationId)
            .order_by_asc(integration_deliveries::Column::DeliveryId),
        IntegrationDelivery
    );
    each!(
        pushes::Entity::find()
            .filter(pushes::Column::OrganizationId.eq(org))
            .order_by_asc(pushes::Column::Id),
        Push
    );
    each!(
        push_commits::Entity::find()
            .inner_join(pushes::Entity)
            .filter(pushes::Column::OrganizationId.eq(org))
            .order_by_asc(push_commits::Column::PushId)
            .order_by_asc(push_commits::Column::Position),
        PushCommit
    );
    // In `seq` order: the target numbers them afresh in the same order.
    each!(
        deployments::Entity::find()
            .filter(deployments::Column::OrganizationId.eq(org))
            .order_by_asc(deployments::Column::Seq),
        Deployment
    );
    each!(
        deployment_commits::Entity::find()
            .inner_join(deployments::Entity)
            .filter(deployments::Column::OrganizationId.eq(org))
            .order_by_asc(deployment_commits::Column::DeploymentId)
            .order_by_asc(deployment_commits::Column::Sha),
        DeploymentCommit
    );
    each!(
        deployment_statuses::Entity::find()
            .filter(deployment_statuses::Column::OrganizationId.eq(org))
            .order_by_asc(deployment_statuses::Column::Id),
        DeploymentStatus
    );
    each!(
        github_deployments::Entity::find()
            .inner_join(deployments::Entity)
            .filter(deployments::Column::OrganizationId.eq(org))
            .order_by_asc(github_deployments::Column::DeploymentId),
        GithubDeployment
    );
    each!(
        inferred_commits::Entity::find()
            .filter(inferred_commits::Column::OrganizationId.eq(org))
            .order_by_asc(inferred_commits::Column::DeploymentId),
        InferredCommits
    );
    // After the deployments: a hook names its last deployment.
    each!(
        deploy_hooks::Entity::find()
            .filter(deploy_hooks::Column::OrganizationId.eq(org))
            .order_by_asc(deploy_hooks::Column::Id),
        DeployHook
    );
    each!(
        deploy_hook_triggers::Entity::find()
            .inner_join(deploy_hooks::Entity)
            .filter(deploy_hooks::Column::OrganizationId.eq(org))
            .order_by_asc(deploy_hook_triggers::Column::DeploymentId),
        DeployHookTrigger
    );
    each!(
        incidents::Entity::find()
            .filter(incidents::Column::OrganizationId.eq(org))
            .order_by_asc(incidents::Column::Id),
        Incident
    );
    each!(
        source_objects::Entity::find()
            .filter(source_objects::Column::OrganizationId.eq(org))
            .order_by_asc(source_objects::Column::Source)
            .order_by_asc(source_objects::Column::Kind)
            .order_by_asc(source_objects::Column::RepositoryId)
            .order_by_asc(source_objects::Column::ExternalId),
        SourceObject
    );
    each!(
        source_incidents::Entity::find()
            .filter(source_incidents::Column::OrganizationId.eq(org))
            .order_by_asc(source_incidents::Column::Source)
            .order_by_asc(source_incidents::Column::SourceId),
        SourceIncident
    );
    each!(
        audit_log::Entity::find()
            .filter(audit_log::Column::OrganizationId.eq(org))
            .order_by_asc(audit_log::Column::Id),
        AuditEntry
    );
    Ok(())
}

/// The organization `slug` as stored.
pub async fn organization<C: ConnectionTrait>(
    conn: &C,
    slug: &str,
) -> Result<Option<organizations::Model>, DbErr> {
    organizations::Entity::find()
        .filter(organizations::Column::Slug.eq(slug))
        .one(conn)
        .await
}

/// The slugs of every organization.
pub async fn organization_slugs<C: ConnectionTrait>(conn: &C) -> Result<Vec<String>, DbErr> {
    organizations::Entity::find()
        .select_only()
        .column(organizations::Column::Slug)
        .order_by_asc(organizations::Column::Slug)
        .into_tuple()
        .all(conn)
        .await
}

/// Whether the organization has any record an import would add to (tokens do not count:
/// `token issue` creates the organization before anything is imported into it).
pub async fn has_data<C: ConnectionTrait>(conn: &C, organization_id: Uuid) -> Result<bool, DbErr> {
    macro_rules! any {
        ($entity:ident) => {
            if $entity::Entity::find()
                .filter($entity::Column::OrganizationId.eq(organization_id))
                .limit(1)
                .one(conn)
                .await?
                .is_some()
            {
                return Ok(true);
            }
        };
    }
    any!(repositories);
    any!(members);
    any!(deployments);
    any!(incidents);
    any!(pushes);
    any!(integrations);
    any!(deploy_hooks);
    any!(trust_policies);
    any!(webhook_subscriptions);
    Ok(false)
}

/// Deletes everything of the organization an import writes (its row and tokens stay; the
/// database cascades commits, statuses, outcomes and the rest away with their parents).
pub async fn clear<C: ConnectionTrait>(txn: &C, organization_id: Uuid) -> Result<(), DbErr> {
    macro_rules! delete {
        ($entity:ident) => {
            $entity::Entity::delete_many()
                .filter($entity::Column::OrganizationId.eq(organization_id))
                .exec(txn)
                .await?;
        };
    }
    delete!(source_incidents);
    delete!(source_objects);
    delete!(incidents);
    delete!(deploy_hooks);
    delete!(inferred_commits);
    delete!(deployment_statuses);
    delete!(deployments);
    delete!(pushes);
    delete!(integrations);
    // Their deliveries cascade; the tiers kept for `dora.tier_changed` were of the old data.
    delete!(webhook_subscriptions);
    delete!(dora_tiers);
    delete!(trust_policies);
    delete!(members);
    delete!(repositories);
    delete!(audit_log);
    delete!(idempotency_keys);
    Ok(())
}

/// Sets the organization's last deployment number (the imported one).
pub async fn set_last_number<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    last: i64,
) -> Result<(), DbErr> {
    organizations::Entity::update_many()
        .col_expr(
            organizations::Column::LastDeploymentNumber,
            sea_orm::sea_query::Expr::value(last),
        )
        .filter(organizations::Column::Id.eq(organization_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Inserts `records` (all of one kind, neither header nor end), with multi-row statements.
pub async fn insert<C: ConnectionTrait>(txn: &C, records: Vec<Record>) -> Result<(), DbErr> {
    macro_rules! rows {
        ($variant:ident, $entity:ident, |$a:ident| $fix:expr) => {{
            let rows: Vec<$entity::ActiveModel> = records
                .into_iter()
                .filter_map(|r| match r {
                    Record::$variant(m) => Some(m),
                    _ => None,
                })
                .map(|m| {
                    #[allow(unused_mut)]
                    let mut $a: $entity::ActiveModel = m.into();
                    $fix;
                    $a
                })
                .collect();
            insert_rows(txn, rows).await
        }};
        ($variant:ident, $entity:ident) => {
            rows!($variant, $entity, |a| ())
        };
    }
    let Some(first) = records.first() else {
        return Ok(());
    };
    match first {
        Record::Header(_) | Record::End(_) => Err(DbErr::Custom(format!(
            "a {} line cannot be inserted",
            first.kind()
        ))),
        Record::Organization(_) => rows!(Organization, organizations),
        Record::Repository(_) => rows!(Repository, repositories),
        Record::Member(_) => rows!(Member, members),
        Record::TrustPolicy(_) => rows!(TrustPolicy, trust_policies),
        Record::Integration(_) => rows!(Integration, integrations),
        Record::WebhookSubscription(_) => rows!(WebhookSubscription, webhook_subscriptions),
        Record::IntegrationDelivery(_) => rows!(IntegrationDelivery, integration_deliveries),
        Record::Push(_) => rows!(Push, pushes),
        Record::PushCommit(_) => rows!(PushCommit, push_commits),
        Record::Deployment(_) => rows!(Deployment, deployments, |a| a.seq = NotSet),
        // The commit-row triggers fill their stream columns from the deployment.
        Record::DeploymentCommit(_) => rows!(DeploymentCommit, deployment_commits),
        Record::DeploymentStatus(_) => {
            rows!(DeploymentStatus, deployment_statuses, |a| a.id = NotSet)
        }
        Record::GithubDeployment(_) => rows!(GithubDeployment, github_deployments),
        Record::InferredCommits(_) => rows!(InferredCommits, inferred_commits),
        Record::DeployHook(_) => rows!(DeployHook, deploy_hooks),
        Record::DeployHookTrigger(_) => rows!(DeployHookTrigger, deploy_hook_triggers),
        Record::Incident(_) => rows!(Incident, incidents),
        Record::SourceObject(_) => rows!(SourceObject, source_objects),
        Record::SourceIncident(_) => rows!(SourceIncident, source_incidents),
        Record::AuditEntry(_) => rows!(AuditEntry, audit_log, |a| a.id = NotSet),
    }
}

/// Bound values per statement, under SQLite's limit (32766) and PostgreSQL's (65535).
const VALUES_PER_STATEMENT: usize = 30_000;

async fn insert_rows<C, A>(txn: &C, rows: Vec<A>) -> Result<(), DbErr>
where
    C: ConnectionTrait,
    A: ActiveModelTrait + Send,
{
    let columns = <A::Entity as EntityTrait>::Column::iter().count().max(1);
    let per_statement = (VALUES_PER_STATEMENT / columns).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(per_statement).collect();
        A::Entity::insert_many(chunk)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}
