//! Who the simulated providers know, shared by the simulator and the demo's config. These are
//! made-up credentials of a demo, valid nowhere else.

/// Zendesk: the agent whose API token works, and the one the simulator rate-limits.
pub const ZENDESK_EMAIL: &str = "ops@demo.example";
pub const ZENDESK_TOKEN: &str = "zd-demo-token-7f3a9c";
pub const ZENDESK_BUSY_EMAIL: &str = "busy@demo.example";
/// What Zendesk's `Retry-After` says to the busy agent, seconds.
pub const ZENDESK_RETRY_AFTER: u64 = 120;

/// Genesys Cloud OAuth clients: one answers at once, the other never in time.
pub const GENESYS_CLIENT_ID: &str = "2f6d1c4e-demo-4a8b-9c1d-credwatch001";
pub const GENESYS_SLOW_CLIENT_ID: &str = "7b2e9a10-demo-4f3c-8d2e-credwatch002";
/// An OAuth client someone made inactive: it gets no tokens, and Genesys deletes it in 6 days.
pub const GENESYS_RETIRED_CLIENT_ID: &str = "c4a8e2f1-demo-4b7d-9e3a-credwatch003";
pub const GENESYS_SECRET: &str = "gc_Q2xpZW50U2VjcmV0_7Hd";

/// Google: the service account, and the Workspace users it may act as.
pub const GOOGLE_CLIENT_EMAIL: &str = "credwatch@demo-project.iam.gserviceaccount.com";
pub const GOOGLE_CLIENT_ID: &str = "104729000000000000001";
pub const GOOGLE_KEY_ID: &str = "3c1f0demo9b7e5a2d4c6f8e0a1b3c5d7e9f1a2b4";
/// A key of the same service account that was deleted: Google no longer publishes it.
pub const GOOGLE_DELETED_KEY_ID: &str = "9d2e4demo0c8f6b3e5d7a9f1b2c4d6e8f0a3b5c7";
pub const GOOGLE_DELEGATED_USER: &str = "ops@demo.example";
pub const GOOGLE_UNDELEGATED_USER: &str = "ceo@demo.example";

/// Entra ID / Dynamics 365: the app, and users that work, need MFA, and are locked.
pub const ENTRA_APPLICATION_ID: &str = "51f81489-12ee-4a9e-aaae-a2591f45987d";
pub const DYNAMICS_USER: &str = "svc-crm@demo.example";
pub const DYNAMICS_MFA_USER: &str = "svc-mfa@demo.example";
pub const DYNAMICS_LOCKED_USER: &str = "svc-locked@demo.example";
pub const DYNAMICS_PASSWORD: &str = "Dyn!7qV2xk-42";

/// Salesforce: the connected app and its integration user (password, then security token).
pub const SALESFORCE_CLIENT_ID: &str = "3MVG9demo.credwatch.consumer.key";
pub const SALESFORCE_CLIENT_SECRET: &str = "sfcs_8841Xq2Lm7Vt";
pub const SALESFORCE_USER: &str = "integration@demo.example";
pub const SALESFORCE_PASSWORD: &str = "Sf#4mTz9Lr-17";
pub const SALESFORCE_SECURITY_TOKEN: &str = "sfTkn9Qw2Zx55";
/// A user whose password was rotated on the Salesforce side only.
pub const SALESFORCE_STALE_USER: &str = "stale@demo.example";
/// A user whose password has expired: Salesforce still grants it a token, and every API call
/// with it fails with `INVALID_OPERATION_WITH_EXPIRED_PASSWORD`.
pub const SALESFORCE_EXPIRED_USER: &str = "expired@demo.example";
pub const SALESFORCE_EXPIRED_PASSWORD: &str = "Sf#3xpRd7Kq-15";
pub const SALESFORCE_STALE_PASSWORD: &str = "Sf#0ldQw8m-16";

/// AWS: credwatch's own IAM user, and the roles Genesys assumes.
pub const AWS_ACCOUNT: &str = "123456789012";
pub const AWS_ACCESS_KEY_ID: &str = "AKIADEMOCREDWATCH001";
pub const AWS_SECRET_ACCESS_KEY: &str = "dEm0/s3cR3tAcc355K3y+0000000001";
pub const AWS_ROLE: &str = "genesys-data-actions";
pub const AWS_EXTERNAL_ID: &str = "demo-genesys-org-id";
/// A role whose trust policy names another external id.
pub const AWS_OTHER_ROLE: &str = "genesys-reporting";
/// A role credwatch may assume whose trust policy no longer names Genesys's AWS account.
pub const AWS_LOST_TRUST_ROLE: &str = "genesys-billing";
/// The AWS account Genesys Cloud assumes roles from (commercial regions).
pub const GENESYS_AWS_ACCOUNT: &str = "765628985471";

/// Web services: HTTP Basic, and an OAuth client-credentials server.
pub const WEB_USER: &str = "orders-api";
pub const WEB_PASSWORD: &str = "W3b!r8Kp2v-93";
pub const WEB_CLIENT_ID: &str = "inventory-client";
pub const WEB_CLIENT_SECRET: &str = "wcs_5fH2kQ9xZ27";
