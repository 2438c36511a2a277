//! Organization settings: `require_binding`, mirrored from Node 1 (which enforces it), the
//! server's own `email_recovery` and `email_notices` opt-ins, and the organization's
//! branding on the Gateway ([`OrgBranding`]).

use sqlx::Row as _;

use super::ServerStore;
use super::commit::Commit;
use crate::StoreError;

/// An organization's settings (all off until switched on).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrgSettings {
    /// Every encrypted secret must carry a binding (only ever switched on).
    pub require_binding: bool,
    /// Customers may recover by an emailed code (opt-in; `docs/customer-custody.md`).
    pub email_recovery: bool,
    /// Customers with an address are mailed security notices (PIN changed or reset,
    /// locked out, keys exported; opt-in; `docs/customer-custody.md`).
    pub email_notices: bool,
}

/// An on/off setting an owner switches (`org_settings` columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgFlag {
    /// [`OrgSettings::email_recovery`].
    EmailRecovery,
    /// [`OrgSettings::email_notices`].
    EmailNotices,
}

impl OrgFlag {
    /// Its column (a constant: never from input).
    fn column(self) -> &'static str {
        match self {
            OrgFlag::EmailRecovery => "email_recovery",
            OrgFlag::EmailNotices => "email_notices",
        }
    }

    /// `settings` with this flag set to `enabled`.
    pub fn set(self, settings: OrgSettings, enabled: bool) -> OrgSettings {
        match self {
            OrgFlag::EmailRecovery => OrgSettings {
                email_recovery: enabled,
                ..settings
            },
            OrgFlag::EmailNotices => OrgSettings {
                email_notices: enabled,
                ..settings
            },
        }
    }
}

/// How the Gateway shows an organization (`docs/gateway.md`, "Branding"). Checked by the
/// server before it is stored (colours `#rrggbb`, the logo a small PNG or JPEG).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgBranding {
    /// `#rrggbb`: buttons and links (white text on it).
    pub primary_color: Option<String>,
    /// `#rrggbb`: the page behind the Gateway's panel.
    pub background_color: Option<String>,
    /// The logo.
    pub logo: Option<Logo>,
    /// When it was last set (Unix ms); 0 when never.
    pub updated_at_ms: i64,
}

/// An organization's logo.
#[derive(Clone, PartialEq, Eq)]
pub struct Logo {
    /// `image/png` or `image/jpeg`.
    pub media_type: String,
    /// The image.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Logo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logo")
            .field("media_type", &self.media_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl ServerStore {
    /// The organization's settings.
    pub async fn org_settings(&self, org_id: &str) -> Result<OrgSettings, StoreError> {
        let row = sqlx::query(
            "SELECT require_binding, email_recovery, email_notices FROM org_settings \
             WHERE org_id = $1",
        )
        .bind(org_id)
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(match row {
            Some(r) => OrgSettings {
                require_binding: r.try_get::<i64, _>("require_binding")? == 1,
                email_recovery: r.try_get::<i64, _>("email_recovery")? == 1,
                email_notices: r.try_get::<i64, _>("email_notices")? == 1,
            },
            None => OrgSettings::default(),
        })
    }

    /// Whether the organization requires a binding on every encrypted secret.
    pub async fn require_binding(&self, org_id: &str) -> Result<bool, StoreError> {
        Ok(self.org_settings(org_id).await?.require_binding)
    }

    /// Switches recovery by email on or off for the organization's customers, with `c`'s
    /// audit entries and idempotent response. Off stops new email resets; codes already
    /// enrolled stay at Node 2 (and sealed here) until a PIN commit replaces them.
    pub async fn set_email_recovery(
        &self,
        org_id: &str,
        enabled: bool,
        at_ms: i64,
        c: &Commit,
    ) -> Result<(), StoreError> {
        self.set_org_flag(org_id, OrgFlag::EmailRecovery, enabled, at_ms, c)
            .await
    }

    /// Switches security notices by email on or off for the organization's customers,
    /// with `c`'s audit entries and idempotent response. Off stops new notices; those
    /// already queued are still sent.
    pub async fn set_email_notices(
        &self,
        org_id: &str,
        enabled: bool,
        at_ms: i64,
        c: &Commit,
    ) -> Result<(), StoreError> {
        self.set_org_flag(org_id, OrgFlag::EmailNotices, enabled, at_ms, c)
            .await
    }

    /// Switches `flag` on or off, with `c`'s audit entries and idempotent response.
    pub async fn set_org_flag(
        &self,
        org_id: &str,
        flag: OrgFlag,
        enabled: bool,
        at_ms: i64,
        c: &Commit,
    ) -> Result<(), StoreError> {
        let column = flag.column();
        let mut tx = self.begin().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO org_settings (org_id, require_binding, {column}, updated_at_ms) \
             VALUES ($1, 0, $2, $3) \
             ON CONFLICT (org_id) DO UPDATE SET {column} = $2, updated_at_ms = $3"
        )))
        .bind(org_id)
        .bind(i64::from(enabled))
        .bind(at_ms)
        .execute(&mut *tx)
        .await?;
        self.finish(tx, c).await
    }

    /// The organization's branding (the default, all absent, when it set none).
    pub async fn org_branding(&self, org_id: &str) -> Result<OrgBranding, StoreError> {
        let row = sqlx::query(
            "SELECT primary_color, background_color, logo_type, logo, updated_at_ms \
             FROM org_branding WHERE org_id = $1",
        )
        .bind(org_id)
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(r) = row else {
            return Ok(OrgBranding::default());
        };
        let logo = match (
            r.try_get::<Option<String>, _>("logo_type")?,
            r.try_get::<Option<Vec<u8>>, _>("logo")?,
        ) {
            (Some(media_type), Some(bytes)) => Some(Logo { media_type, bytes }),
            _ => None,
        };
        Ok(OrgBranding {
            primary_color: r.try_get("primary_color")?,
            background_color: r.try_get("background_color")?,
            logo,
            updated_at_ms: r.try_get("updated_at_ms")?,
        })
    }

    /// Replaces the organization's branding with `b` (checked by the caller), with `c`'s
    /// audit entries and idempotent response.
    pub async fn set_org_branding(
        &self,
        org_id: &str,
        b: &OrgBranding,
        c: &Commit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO org_branding (org_id, primary_color, background_color, logo_type, logo, \
             updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (org_id) DO UPDATE SET primary_color = $2, background_color = $3, \
             logo_type = $4, logo = $5, updated_at_ms = $6",
        )
        .bind(org_id)
        .bind(b.primary_color.as_deref())
        .bind(b.background_color.as_deref())
        .bind(b.logo.as_ref().map(|l| l.media_type.as_str()))
        .bind(b.logo.as_ref().map(|l| l.bytes.as_slice()))
        .bind(b.updated_at_ms)
        .execute(&mut *tx)
        .await?;
        self.finish(tx, c).await
    }

    /// Records that the organization requires bindings, for good, with `c`'s audit entries
    /// and idempotent response.
    pub async fn set_require_binding(
        &self,
        org_id: &str,
        at_ms: i64,
        c: &Commit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO org_settings (org_id, require_binding, updated_at_ms) VALUES ($1, 1, $2) \
             ON CONFLICT (org_id) DO UPDATE SET require_binding = 1, updated_at_ms = $2",
        )
        .bind(org_id)
        .bind(at_ms)
        .execute(&mut *tx)
        .await?;
        self.finish(tx, c).await
    }
}
