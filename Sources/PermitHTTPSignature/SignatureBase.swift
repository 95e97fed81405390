import RawStructuredFieldValues

/// The signature parameters of RFC 9421 §2.3, in the order they are written (the order is part
/// of the signed `@signature-params` line).
public struct SignatureParameters: Hashable, Sendable {
    /// A parameter value: RFC 8941 Integer or String, the only types §2.3's parameters take.
    public enum Value: Hashable, Sendable {
        /// An Integer, e.g. `created=1618884473`.
        case integer(Int64)
        /// A String, e.g. `keyid="test-key-ed25519"`.
        case string(String)
    }

    /// One parameter.
    public struct Parameter: Hashable, Sendable {
        /// The parameter's key, e.g. `created`.
        public var name: String
        /// Its value.
        public var value: Value
        /// A parameter.
        public init(_ name: String, _ value: Value) {
            self.name = name
            self.value = value
        }
    }

    /// The parameters in written order.
    public var parameters: [Parameter]

    /// Parameters in the order given.
    public init(_ parameters: [Parameter] = []) { self.parameters = parameters }

    /// The value of the first parameter called `name`.
    public subscript(name: String) -> Value? { parameters.first { $0.name == name }?.value }
}

/// Builds RFC 9421 §2.5 signature bases from a ``RequestMessage``.
///
/// Covered components are plain component names (no component parameters): the derived
/// `@method`, `@target-uri`, `@authority`, `@scheme`, `@path` and `@query`, or a header field
/// name, which is lowercased. Each line is `"name": value` followed by LF, and the last line is
/// `"@signature-params": ` followed by the serialised inner list, with no LF after it.
public enum SignatureBase {
    /// The signature base over `components` with `parameters`, as UTF-8 text.
    public static func make(for request: RequestMessage, covering components: [String],
                            parameters: SignatureParameters) throws(HTTPSignatureError) -> String {
        let names = components.map { $0.hasPrefix("@") ? $0 : $0.lowercased() }
        let params = try signatureParamsValue(covering: names, parameters: parameters)
        return try make(for: request, covering: names, signatureParams: params)
    }

    /// The `@signature-params` value: the RFC 8941 serialisation of the inner list of component
    /// names with the parameters, e.g. `("@method" "@target-uri");created=1;keyid="k"`.
    public static func signatureParamsValue(covering components: [String],
                                            parameters: SignatureParameters) throws(HTTPSignatureError) -> String {
        var list = BareInnerList()
        for name in components {
            list.append(Item(bareItem: RFC9651BareItem.string(name), parameters: OrderedMap<String, RFC9651BareItem>()))
        }
        var map = OrderedMap<String, RFC9651BareItem>()
        for p in parameters.parameters {
            switch p.value {
            case .integer(let i): map[p.name] = .integer(i)
            case .string(let s): map[p.name] = .string(s)
            }
        }
        return try serialise(InnerList(bareInnerList: list, parameters: map))
    }

    /// RFC 8941 §4.1.1.1 serialisation of one inner list with its parameters.
    static func serialise(_ list: InnerList) throws(HTTPSignatureError) -> String {
        do {
            var serializer = StructuredFieldValueSerializer()
            return String(decoding: try serializer.writeListFieldValue([.innerList(list)]), as: UTF8.self)
        } catch {
            throw HTTPSignatureError(.malformed, "the signature parameters cannot be serialised as RFC 8941",
                                     field: "@signature-params", rule: "component names and parameters are RFC 8941 strings, integers and keys")
        }
    }

    /// The base with an already serialised `@signature-params` value, as a verifier rebuilds it
    /// from the received `Signature-Input`.
    static func make(for request: RequestMessage, covering components: [String],
                     signatureParams: String) throws(HTTPSignatureError) -> String {
        var seen = Set<String>()
        var base = ""
        var uri: TargetURI?
        for name in components {
            guard seen.insert(name).inserted else {
                throw HTTPSignatureError(.components, "the component \(name) is covered twice", field: "Signature-Input",
                                         value: name, rule: "each component identifier at most once (RFC 9421 §2.5)")
            }
            let value: String
            if name.hasPrefix("@") {
                if name != "@method" && uri == nil {
                    guard let parsed = TargetURI(request.targetURI) else {
                        throw HTTPSignatureError(.component, "the target URI is not an absolute URI with an authority",
                                                 field: "@target-uri", value: request.targetURI,
                                                 rule: "scheme://authority[/path][?query], no fragment")
                    }
                    uri = parsed
                }
                switch name {
                case "@method": value = request.method
                case "@target-uri": value = uri!.targetURIValue
                case "@authority": value = uri!.authorityValue
                case "@scheme": value = uri!.scheme.lowercased()
                case "@path": value = uri!.pathValue
                case "@query": value = "?" + (uri!.query ?? "")
                default:
                    throw HTTPSignatureError(.component, "the derived component \(name) is not supported", field: name,
                                             rule: "one of @method @target-uri @authority @scheme @path @query")
                }
            } else {
                guard let field = request.fieldValue(name) else {
                    throw HTTPSignatureError(.component, "the covered header field \(name) is not in the request",
                                             field: name, rule: "a covered field must be present (RFC 9421 §2.5)")
                }
                value = field
            }
            // A line break would let one value forge the next line; controls other than HTAB
            // have no place in a field value (RFC 9110 §5.5).
            guard value.unicodeScalars.allSatisfy({ $0 == "\t" || ($0.value >= 0x20 && $0.value != 0x7F) }) else {
                throw HTTPSignatureError(.component, "the value of \(name) holds a line break or control character",
                                         field: name, value: value.debugDescription, rule: "no CR, LF or other controls")
            }
            base += "\"\(name)\": \(value)\n"
        }
        base += "\"@signature-params\": \(signatureParams)"
        return base
    }
}
