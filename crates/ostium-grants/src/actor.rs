//! The one actor shell every flow runs in: [`GrantActor`] serves one [`Flow`] on one
//! worker thread, under actix's `Supervisor`, which starts a fresh actor when it
//! stops. Each actor's mailbox outlives its restarts, so requests sent during a
//! restart are served by the fresh instance.
//!
//! A flow is what an actor does with one request: a token grant (every
//! [`crate::TokenGrant`] is a flow), revocation, and later the authorize and device
//! endpoints. Flows hold no per-request state, so one instance serves every worker.
//!
//! A message carries the sender's tracing span: actix hands messages over through a
//! mailbox, which would otherwise start the actor's work outside the request's trace
//! (docs/architecture.md §10). It also carries its place in the actor's mailbox
//! depth gauge, given back when the handler takes the message or when the message is
//! dropped undelivered.

use std::future::Future;
use std::sync::Arc;

use actix::{
    Actor, ActorContext, Context, Handler, MailboxError, Message, ResponseFuture, Supervised,
};
use ostium_protocol::OAuthError;
use prometheus_client::metrics::gauge::Gauge;
use tracing::Instrument;

use crate::context::GrantContext;
use crate::requester::Requester;

/// What an actor serves: one kind of request from an identified client.
pub trait Flow: Send + Sync + 'static {
    type Request: Send + 'static;
    type Response: Send + 'static;

    /// Names the flow's actor in logs and metrics.
    fn name(&self) -> &str;

    /// Serves one request. Runs on the actor's worker thread; I/O is awaited, and
    /// CPU-heavy work goes to a bounded blocking pool.
    fn run(
        &self,
        context: &GrantContext,
        requester: &Requester,
        request: Self::Request,
    ) -> impl Future<Output = Result<Self::Response, OAuthError>>;
}

/// Runs a [`Flow`] as an actor.
pub struct GrantActor<F: Flow> {
    flow: Arc<F>,
    context: Arc<GrantContext>,
}

impl<F: Flow> GrantActor<F> {
    pub fn new(flow: Arc<F>, context: Arc<GrantContext>) -> Self {
        Self { flow, context }
    }
}

impl<F: Flow> Actor for GrantActor<F> {
    type Context = Context<Self>;
}

impl<F: Flow> Supervised for GrantActor<F> {
    fn restarting(&mut self, _: &mut Self::Context) {
        let actor = self.flow.name();
        tracing::warn!(actor, "grant actor restarting");
        self.context.metrics.actor_restarted(actor);
    }
}

/// Asks for one request to be served.
pub struct Serve<F: Flow> {
    pub requester: Requester,
    pub request: F::Request,
    /// The sender's span: the handler's work is traced inside it.
    span: tracing::Span,
    queued: Queued,
}

impl<F: Flow> Serve<F> {
    /// A request sent from within the current span, counted in `mailbox` (the
    /// receiving actor's depth gauge) until the actor takes it.
    pub fn new(requester: Requester, request: F::Request, mailbox: &Gauge) -> Self {
        mailbox.inc();
        Self {
            requester,
            request,
            span: tracing::Span::current(),
            queued: Queued(mailbox.clone()),
        }
    }
}

/// A message's place in its actor's mailbox depth gauge.
struct Queued(Gauge);

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl<F: Flow> Message for Serve<F> {
    type Result = Result<F::Response, OAuthError>;
}

impl<F: Flow> Handler<Serve<F>> for GrantActor<F> {
    type Result = ResponseFuture<Result<F::Response, OAuthError>>;

    fn handle(&mut self, serve: Serve<F>, _: &mut Self::Context) -> Self::Result {
        let Serve {
            requester,
            request,
            span,
            queued,
        } = serve;
        drop(queued);
        let flow = self.flow.clone();
        let context = self.context.clone();
        let name = flow.name();
        let span = tracing::info_span!(
            parent: &span,
            "grant actor",
            otel.name = %format!("actor {name}"),
            actor = name,
            client_id = %requester.client.client_id,
        );
        Box::pin(async move { flow.run(&context, &requester, request).await }.instrument(span))
    }
}

/// What became of a message: a mailbox failure means the actor is gone for good; the
/// client gets `server_error`, and the log the cause.
pub(crate) fn delivered<T>(
    outcome: Result<Result<T, OAuthError>, MailboxError>,
) -> Result<T, OAuthError> {
    outcome.unwrap_or_else(|e| Err(OAuthError::server_error().with_cause(e)))
}

/// Asks an actor to stop so that its supervisor starts a fresh one.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Restart;

impl<F: Flow> Handler<Restart> for GrantActor<F> {
    type Result = ();

    fn handle(&mut self, _: Restart, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
