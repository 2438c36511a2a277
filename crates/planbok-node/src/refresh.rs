//! Key refresh, Node 1's side: new shares for the same public key, committed like a DKG.
//!
//! Both nodes store the new share as *pending* next to the active one (Node 2 first, then
//! Node 1); Node 1 sends the commit; Node 2 activates (the **commit point**) and confirms;
//! Node 1 activates. Until Node 2 activates, both nodes sign with the old shares and a crash
//! anywhere leaves them there (Node 2 drops its pending shares at start). If Node 1 does
//! not see the confirmation (Node 2 died after activating, or Node 1 did), its pending
//! share is *in doubt*: the next operation on the key asks Node 2 for its active version
//! ([`CoordinatorService::settled_key`]) and activates or drops the pending share to match,
//! so the two nodes never run a protocol with shares from different refreshes. Node 2 also
//! refuses any run whose share version differs from its own (`share_version_mismatch`).

use planbok_keystore::wrap;
use planbok_mpc::SessionId;
use planbok_proto::codes::ErrorCode;
use planbok_proto::grant;
use planbok_proto::pb::{
    Open, Operation, RefreshRequest, RefreshResponse, RunKind, ShareVersionRequest,
};
use planbok_store::KeyRecord;

use crate::coordinator::CoordinatorService;
use crate::error::{NodeError, NodeResult, from_peer_status};
use crate::protocols;
use crate::runner::{Deadlines, drive};
use crate::secrets::{self, Context};
use crate::state::Proto;

impl CoordinatorService {
    /// The active key, with any refresh left in doubt settled first against Node 2's
    /// active version (one store read when nothing is pending).
    pub(crate) async fn settled_key(&self, key_id: &str, org_id: &str) -> NodeResult<KeyRecord> {
        let state = &self.state;
        let rec = state.key(key_id, org_id).await?;
        let Some(pending) = rec.pending_share_version else {
            return Ok(rec);
        };
        let mut peer = self.peer.clone();
        let theirs = self
            .deadlines()
            .within(
                "node 2's share version",
                peer.share_version(ShareVersionRequest {
                    key_id: key_id.to_owned(),
                }),
            )
            .await?
            .map_err(|s| from_peer_status(&s))?
            .into_inner()
            .share_version;
        if theirs == pending {
            state.store.activate_share(key_id, pending).await?;
            tracing::warn!(key = %key_id, version = pending,
                "completed a refresh whose commit node 1 had not seen");
        } else if theirs == rec.share_version {
            state.store.delete_pending_share(key_id).await?;
            tracing::warn!(key = %key_id, version = pending,
                "dropped a refresh that node 2 never activated");
        } else {
            tracing::error!(alert = true, key = %key_id, node1 = rec.share_version,
                pending, node2 = theirs, "share versions cannot be reconciled");
            return Err(NodeError::new(
                ErrorCode::ShareVersionMismatch,
                "the nodes hold share versions of this key that do not match",
            ));
        }
        state.key(key_id, org_id).await
    }

    /// Node 1's side of `Coordinator.Refresh`.
    pub(crate) async fn refresh_inner(&self, r: RefreshRequest) -> NodeResult<RefreshResponse> {
        let state = &self.state;
        state.require_unsealed()?;
        let g = state.verify_grant(r.grant.as_ref())?;
        let known = state.key(&r.key_id, &g.org_id).await?;
        crate::customer_ops::refuse_customer_key(&known)?;
        let proto = Proto::from_name(&known.protocol)?;
        state
            .consume_grant(
                &g,
                Operation::Refresh,
                &r.key_id,
                &grant::refresh_params(proto.to_pb()),
            )
            .await?;
        let _permit = state.slot().await?;
        let secret = secrets::secret_for(
            state,
            &g.org_id,
            &r.encrypted_secret,
            Context::Sign,
            secrets::Binding::refresh(&g.org_id, &known.public_key),
        )
        .await?;
        let rec = self.settled_key(&r.key_id, &g.org_id).await?;
        let (old_version, public_key) = (rec.share_version, rec.public_key.clone());
        let share = state.open_share(rec, proto, Some(&secret)).await?;
        let aux = state.aux_for(proto).await?;
        // CGGMP's refresh regenerates Paillier keys: primes (minutes of CPU in production)
        // and the heavier proofs run under the aux-info limits.
        let (primes, deadlines) = match proto {
            Proto::Cggmp => (
                Some(state.primes().await?),
                Deadlines::new(state.limits.aux_timeout(), state.limits.aux_timeout()),
            ),
            _ => (None, self.deadlines()),
        };
        let mut run = self
            .open_run(
                Open {
                    kind: RunKind::Refresh as i32,
                    grant: r.grant,
                    protocol: proto.to_pb() as i32,
                    key_id: r.key_id.clone(),
                    share_version: old_version,
                    ..Default::default()
                },
                &deadlines,
            )
            .await?;
        let build = protocols::refresh(share, aux, primes, SessionId::from_bytes(g.session_id))?;
        let (out, early) = match drive(build, &run.tx, &mut run.inbox, deadlines).await {
            Ok(done) => done,
            Err(e) => return Err(state.disable_on_ban(&r.key_id, e).await),
        };
        let refreshed = protocols::dkg_result(out)?;
        if refreshed.public_key != public_key || run.stored(early, &deadlines).await? != public_key
        {
            tracing::error!(alert = true, key = %r.key_id, "refresh changed the public key");
            return Err(NodeError::new(
                ErrorCode::ProtocolAborted,
                "the refresh changed the public key",
            ));
        }
        let wrapped = wrap::wrap_share(&secret, &g.org_id, &r.key_id, &refreshed.share)?;
        drop((secret, refreshed));
        let id = r.key_id.clone();
        let sealed = state.ks(move |k| k.seal_blob(&id, &wrapped)).await?;
        let version = old_version + 1;
        state
            .store
            .insert_pending_share(&r.key_id, version, sealed)
            .await?;
        if let Err(e) = run.commit(&deadlines).await {
            // Node 2 may have activated before it failed: the pending share stays, in doubt,
            // until `settled_key` asks Node 2.
            tracing::warn!(key = %r.key_id, version, code = e.code.as_str(),
                "refresh commit unconfirmed; settled on the key's next use");
            return Err(e);
        }
        state.store.activate_share(&r.key_id, version).await?;
        tracing::info!(key = %r.key_id, org = %g.org_id, protocol = proto.name(), version,
            "key refreshed");
        Ok(RefreshResponse {
            key_id: r.key_id,
            protocol: proto.to_pb() as i32,
            public_key,
            share_version: u32::try_from(version).unwrap_or(u32::MAX),
        })
    }
}
