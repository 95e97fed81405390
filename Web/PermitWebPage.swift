/// PermitWebPage: the files of the checkpoint page (`Web/verify/`), compiled into the server as
/// bytes so that a server binary always serves the page it was built with.
///
/// Its boundary: bytes and names only. Filling in the root key and choosing content types is the
/// server's job (`PermitServer.WebVerifierPage`). A file added to `Web/verify/` must be listed in
/// Package.swift (`.embedInCode`) and below; PermitServerTests compares every file of the folder
/// with what the server serves.
public enum PermitWebPage {
    /// Each file, by its path under `/verify/` (`index.html`, `js/app.js`…).
    public static let files: [String: [UInt8]] = [
        "index.html": PackageResources.index_html,
        "style.css": PackageResources.style_css,
        "sw.js": PackageResources.sw_js,
        "manifest.webmanifest": PackageResources.manifest_webmanifest,
        "icon.svg": PackageResources.icon_svg,
        "js/app.js": PackageResources.app_js,
        "js/codec.js": PackageResources.codec_js,
        "js/i18n.js": PackageResources.i18n_js,
        "js/store.js": PackageResources.store_js,
        "js/verifier.js": PackageResources.verifier_js,
    ]

    /// The text in `index.html` that the server replaces with the root's public key.
    public static let rootPlaceholder = "__PERMIT_ROOT_SPKI_BASE64__"
}
