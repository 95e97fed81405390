/// # PermitFoundation
///
/// The general helpers the other modules share: lowercase hexadecimal (`Hex`), RFC 3339
/// timestamps in UTC (`RFC3339`) and SHA-256 (`Hashing`).
///
/// Boundary: nothing of the permit domain and nothing of the payload format. It depends only
/// on Foundation and swift-crypto's `Crypto`, so that the store, the seal and the checkpoint can
/// all use these helpers without depending on one another.
public enum PermitFoundation {}
