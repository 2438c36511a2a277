//! Node 1's signing: the organization's keys (`sign_inner`, the secret checked against
//! the organization's registration and the binding) and the one signing run that
//! organization and customer keys share (`run_sign`; `customer_ops.rs` obtains the
//! customer's secret instead).

use planbok_mpc::SessionId;
use planbok_proto::grant;
use planbok_proto::pb::{Open, Operation, RunKind, SignRequest, SignResponse};
use planbok_store::KeyRecord;
use zeroize::Zeroizing;

use crate::coordinator::CoordinatorService;
use crate::error::{NodeError, NodeResult};
use crate::protocols::{self, SignInput};
use crate::runner::{RunOutput, drive};
use crate::secrets::{self, Context};
use crate::state::Proto;

impl CoordinatorService {
    /// A signing run once the grant is recorded and a slot is taken. Node 1 obtains the
    /// secret (`secret`) and opens its share while Node 2 checks the grant and opens its
    /// own: Node 2 releases nothing unless Node 1 then runs the protocol, and a refusal here
    /// drops the run. Node 1's own refusal is reported first.
    pub(crate) async fn run_sign(
        &self,
        r: &SignRequest,
        rec: KeyRecord,
        proto: Proto,
        input: SignInput,
        session_id: [u8; 32],
        secret: impl Future<Output = NodeResult<Zeroizing<[u8; 32]>>>,
    ) -> NodeResult<SignResponse> {
        let state = &self.state;
        let deadlines = self.deadlines();
        let open = Open {
            kind: RunKind::Sign as i32,
            grant: r.grant.clone(),
            protocol: proto.to_pb() as i32,
            key_id: r.key_id.clone(),
            derivation_path: r.derivation_path.clone(),
            payload: r.payload.clone(),
            share_version: rec.share_version,
            customer_challenge: r.customer_challenge.clone(),
            ..Default::default()
        };
        let local = async {
            let secret = secret.await?;
            let share = state.open_share(rec, proto, Some(&secret)).await?;
            drop(secret);
            let public_key = protocols::signing_key(&share, &input)?;
            let aux = state.aux_for(proto).await?;
            Ok::<_, NodeError>((share, public_key, aux))
        };
        let (local, run) = tokio::join!(local, self.open_run(open, &deadlines));
        let (share, public_key, aux) = local?;
        let mut run = run?;
        let build = protocols::sign(share, aux, input, SessionId::from_bytes(session_id))?;
        let (out, _) = match drive(build, &run.tx, &mut run.inbox, deadlines).await {
            Ok(done) => done,
            Err(e) => return Err(state.disable_on_ban(&r.key_id, e).await),
        };
        run.finish().await;
        let (signature, recovery_id) = match out {
            RunOutput::Ecdsa(sig) => (sig.to_compact().to_vec(), u32::from(sig.recovery_id)),
            RunOutput::Ed25519(sig) => (sig.0.to_vec(), 0),
            _ => return Err(NodeError::internal("signing produced no signature")),
        };
        Ok(SignResponse {
            signature,
            recovery_id,
            public_key,
        })
    }

    pub(crate) async fn sign_inner(&self, r: SignRequest) -> NodeResult<SignResponse> {
        let state = &self.state;
        state.require_unsealed()?;
        let g = state.verify_grant(r.grant.as_ref())?;
        let rec = self.settled_key(&r.key_id, &g.org_id).await?;
        if rec.customer_id.is_some() || !r.customer_challenge.is_empty() {
            return self.customer_sign(r, g, rec).await;
        }
        let proto = Proto::from_name(&rec.protocol)?;
        let params = grant::sign_params(proto.to_pb(), &r.derivation_path, &r.payload);
        // Independent round trips, overlapped: recording the grant, reading the
        // organization's secret registration (nothing is decrypted before the grant is
        // recorded and a slot is taken).
        let (consumed, registration) = tokio::join!(
            state.consume_grant(&g, Operation::Sign, &r.key_id, &params),
            secrets::registration(state, &g.org_id),
        );
        consumed?;
        let registration = registration?;
        let input = protocols::sign_input(proto, &r.derivation_path, &r.payload)?;
        // The slot first: a busy node should refuse before it decrypts anything, and an
        // opened share should not wait in a queue.
        let _permit = state.slot().await?;
        let binding =
            secrets::Binding::sign(&g.org_id, &rec.public_key, &r.derivation_path, &r.payload);
        let secret = secrets::secret_from(
            state,
            &g.org_id,
            registration,
            &r.encrypted_secret,
            Context::Sign,
            binding,
        );
        self.run_sign(&r, rec, proto, input, g.session_id, secret)
            .await
    }
}
