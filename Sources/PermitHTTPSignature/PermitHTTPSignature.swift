/// PermitHTTPSignature: the service's request authentication (issue #11), RFC 9421 HTTP Message
/// Signatures with an RFC 9530 `Content-Digest`, on a plain ``RequestMessage``.
///
/// Its job: compute and check `Content-Digest`, build signature bases, sign a request with a
/// firm's, approver's or admin's `PrivateKey` under the label `permit`
/// (``RequestSignature/sign(_:with:created:lifetime:nonce:)``), and verify one as a pure function
/// of the request, the time and a key lookup (``RequestSignature/verify(_:now:key:)``), refusing
/// with an ``HTTPSignatureError`` whose code is stable.
///
/// Its boundary: no HTTP framework (a Hummingbird server and an AsyncHTTPClient client each map
/// their request to a `RequestMessage`), no clock, no store, no memory of nonces. The caller
/// supplies the time, resolves `keyid` to a registered key, does the replay check on the returned
/// nonce until its `expires`, decides 403 for a valid key that may not touch the resource, and
/// maps an error to 401 problem+json. It depends on PermitSeal for keys and kids, and on
/// swift-http-structured-headers for RFC 8941 parsing and serialisation.
public enum PermitHTTPSignature {}
