//! Credentials as records: API tokens (the `jti` of each JWT we sign names one row, so a token
//! can be listed, limited to repositories and revoked), and trust policies that admit CI
//! identity tokens (OIDC) of an issuer whose claims satisfy the policy's conditions.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    OrganizationId,
    Name,
    Subject,
    Scopes,
    Repositories,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum TrustPolicies {
    Table,
    Id,
    OrganizationId,
    Name,
    Issuer,
    Audience,
    Conditions,
    Scopes,
    RepositoryClaim,
    RepositoryHost,
    CreatedBy,
    CreatedAt,
}

// The trait's signature elides the manager's lifetime.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .if_not_exists()
                    // The JWT's `jti`. The token itself is never stored: it is shown once.
                    .col(pk_uuid(ApiTokens::Id))
                    .col(uuid(ApiTokens::OrganizationId))
                    .col(text(ApiTokens::Name))
                    // The JWT's `sub`.
                    .col(text(ApiTokens::Subject))
                    // Space-separated, as in the JWT's `scope`.
                    .col(text(ApiTokens::Scopes))
                    // JSON array of repository keys (`github.com/acme/web`); NULL: every
                    // repository of the organization.
                    .col(text_null(ApiTokens::Repositories))
                    .col(text_null(ApiTokens::CreatedBy))
                    .col(timestamp_with_time_zone(ApiTokens::CreatedAt))
                    .col(timestamp_with_time_zone(ApiTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::RevokedAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiTokens::Table, ApiTokens::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // "the organization's tokens, oldest first"
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_api_tokens_org_created")
                    .table(ApiTokens::Table)
                    .col(ApiTokens::OrganizationId)
                    .col(ApiTokens::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TrustPolicies::Table)
                    .if_not_exists()
                    .col(pk_uuid(TrustPolicies::Id))
                    .col(uuid(TrustPolicies::OrganizationId))
                    .col(text(TrustPolicies::Name))
                    .col(text(TrustPolicies::Issuer))
                    .col(text(TrustPolicies::Audience))
                    // JSON object: claim name -> exact value or glob.
                    .col(text(TrustPolicies::Conditions))
                    .col(text(TrustPolicies::Scopes))
                    .col(text(TrustPolicies::RepositoryClaim))
                    .col(text(TrustPolicies::RepositoryHost))
                    .col(text_null(TrustPolicies::CreatedBy))
                    .col(timestamp_with_time_zone(TrustPolicies::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TrustPolicies::Table, TrustPolicies::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ux_trust_policies_org_name")
                    .table(TrustPolicies::Table)
                    .col(TrustPolicies::OrganizationId)
                    .col(TrustPolicies::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // An identity token is matched by its `iss` across organizations.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_trust_policies_issuer")
                    .table(TrustPolicies::Table)
                    .col(TrustPolicies::Issuer)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            TrustPolicies::Table.into_iden(),
            ApiTokens::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
