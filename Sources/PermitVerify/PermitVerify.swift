/// PermitVerify: the checkpoint's pipeline (payload spec §6).
///
/// Its job is to answer, offline, "may this truck pass, and why": decode an `FP1:` text, find
/// the signer's key in a verified trust list, check the signature, read the claims, then apply
/// pluggable policies (validity window, revocation, plate match, list staleness).
///
/// Its boundary: it depends on PermitSeal (formats, keys, lists) and PermitModel only, never on
/// the store, because checkpoints have no database. It reads no files and no environment; the
/// caller hands it verified lists and a clock.
///
/// The shape follows swift-certificates' verifier: the decoding and signature stages are
/// general and fixed in order; what a deployment may vary lives in `PermitPolicy` values, each
/// deciding one thing, and a `VerificationResult` names the stage or policy that decided.
public enum PermitVerify {}
