import ArgumentParser
import Foundation
import PermitAPI
import PermitModel
import PermitRender
import PermitRouting

/// One application as `permit list --json` prints it.
struct ApplicationRow: Encodable {
    var id: String
    var reference: String
    var creditCode: String
    var plate: String
    var state: String
    var departments: [String]
    var permitNumber: String?
    /// With `--state active|expired|revoked|superseded`: the permit's state by the clock.
    var permitState: String?
    var submittedAt: String

    init(_ r: ApplicationRecord) {
        id = r.publicID
        reference = r.reference
        creditCode = r.creditCode
        plate = r.plate
        state = r.state.rawValue
        departments = (try? JSONDecoder().decode(RoutingDecision.self, from: r.routing))?.departments.map(\.rawValue) ?? []
        permitNumber = r.permitNumber
        submittedAt = Timestamps.string(r.submittedAt)
    }
}

func stateName(_ state: String, _ lang: Language) -> String {
    guard lang == .zh else { return state }
    switch state {
    case "pending": return "待审批"
    case "issued": return "已发证"
    case "rejected": return "已驳回"
    case "cancelled": return "已撤回"
    case "approved": return "已同意"
    case "active": return "有效"
    case "expired": return "已过期"
    case "revoked": return "已吊销"
    case "superseded": return "已被取代"
    default: return state
    }
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List applications in the order they were submitted, with their state and departments.",
        discussion: """
        Over --server the request is signed with --key (a firm sees its own applications, an approver \
        those routed to its department) or --admin-key (everything).

        Examples:
          permit list
          permit list --server https://permits.example.gov.cn --key firm.pem --state pending
          permit list --state pending --applicant 91330114MA24WY722X
          permit list --plate 浙K5835R --json
          permit list --state issued --limit 20 --lang zh
          permit list --state revoked --json
        """
    )

    @Option(help: """
        Only applications in this state: pending, issued, active, expired, revoked, superseded, rejected or cancelled \
        (issued = every application that became a permit; active, expired, revoked and superseded narrow it by the clock \
        and revocations; a superseded permit is not counted as revoked).
        """)
    var state: String?

    @Option(help: ArgumentHelp("Only this firm's applications (unified social credit code).", valueName: "CODE"))
    var applicant: String?

    @Option(help: ArgumentHelp("Only this vehicle's applications.", valueName: "PLATE"))
    var plate: String?

    @OptionGroup var page: PageOptions
    @OptionGroup var data: DataOptions
    @OptionGroup var reader: ReaderKeyOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let lang = output.language
        try await reporting(json: output.json) {
            var lifecycle: LifecycleState?
            if let state {
                guard let s = LifecycleState(rawValue: state) else {
                    throw CommandFailure("list.state", "--state \(state) is not a state", field: "state", value: state,
                                         rule: LifecycleState.allCases.map(\.rawValue).joined(separator: ", "))
                }
                lifecycle = s
            }
            let service = try await data.service(signer: try reader.signer())
            let (records, next) = try await page.rows { limit, after in
                try await service.applications(ApplicationQuery(state: lifecycle, creditCode: applicant, plate: plate, limit: limit, after: after))
            }
            let narrow: Set<LifecycleState> = [.active, .expired, .revoked, .superseded]
            let rows = records.map { record -> ApplicationRow in
                var row = ApplicationRow(record)
                if let lifecycle, narrow.contains(lifecycle) { row.permitState = lifecycle.rawValue }
                return row
            }
            if output.json {
                Console.out(JSONOutput.line(rows))
                page.reportNext(next, json: true, lang: lang, command: "permit list")
                return
            }
            if rows.isEmpty {
                Console.out(lang.pick("（无申请）", "(no applications)"))
                return
            }
            Console.out(TextTable.render(
                header: lang.pick(["编号", "申请单号", "信用代码", "车牌", "状态", "审批部门", "通行证编号", "提交时间"],
                                  ["ID", "reference", "credit code", "plate", "state", "departments", "permit", "submitted"]),
                rows: rows.map { [$0.id, $0.reference, $0.creditCode, $0.plate, stateName($0.permitState ?? $0.state, lang), $0.departments.joined(separator: ","),
                                  $0.permitNumber ?? "", $0.submittedAt] }))
            Console.out(lang.pick("共 \(rows.count) 条", "\(rows.count) application(s)"))
            page.reportNext(next, json: false, lang: lang, command: "permit list")
        }
    }
}

/// One application's full record, as `permit show --json` prints it. Crew ID numbers and
/// phones are masked, as on the permit itself.
struct ApplicationDetail: Encodable {
    struct Crew: Encodable { var name: String; var role: String; var documentType: String; var idNumber: String; var phone: String }
    struct Place: Encodable { var county: String; var name: String?; var address: String? }
    struct Required: Encodable { var department: String; var name: String; var state: String; var dueAt: String; var overdue: Bool; var decidedAt: String? }
    struct Decision: Encodable {
        var department: String; var decision: String; var approverKid: String; var decidedAt: String
        var conditions: [String]; var reason: String?
    }
    struct Permit: Encodable {
        var number: String; var issuedAt: String; var validFrom: String; var validTo: String; var issuerKid: String
        var decisionToIssueMicros: Int64; var payloadLength: Int
        /// active, expired, revoked or superseded.
        var state: String?
        var revokedAt: String?; var revocationReason: String?; var supersedes: String?; var supersededBy: String?
    }
    struct Event: Encodable { var seq: Int64; var at: String; var actor: String; var action: String; var hash: String }

    var id: String
    var reference: String
    var state: String
    var closeReason: String?
    var submittedAt: String
    var applicant: Application.Applicant
    var plate: String
    var plateColor: String
    var vehicleType: String?
    var crew: [Crew]
    var cargo: [String]
    var cargoDescription: String
    var weightKg: Int?
    var origin: Place
    var destination: Place
    var via: [Place]
    var validFrom: String
    var validTo: String
    var trips: String
    var departments: [String]
    var matchedRules: [MatchedRule]
    var routingHash: String
    var required: [Required]
    var decisions: [Decision]
    var permit: Permit?
    var events: [Event]

    init(_ h: ApplicationHistory, now: Date, lang: Language) {
        let a = h.document
        id = h.application.publicID
        reference = h.application.reference
        state = h.application.state.rawValue
        closeReason = h.application.closeReason
        submittedAt = Timestamps.string(h.application.submittedAt)
        applicant = a.applicant
        applicant.phone = Masking.phone(a.applicant.phone)
        plate = a.vehicle.plate
        plateColor = a.vehicle.plateColor
        vehicleType = a.vehicle.type
        crew = a.crew.map { m in
            let type = m.parsedDocumentType ?? .residentID
            return Crew(name: m.name, role: m.role, documentType: type.rawValue, idNumber: Masking.document(m.idNumber, type: type),
                        phone: Masking.phone(m.phone))
        }
        cargo = a.cargo.categories
        cargoDescription = a.cargo.description
        weightKg = a.cargo.weightKg
        func place(_ code: String, _ address: String?) -> Place { Place(county: code, name: Divisions.bundled.fullName(of: code), address: address) }
        origin = place(a.route.origin.county, a.route.origin.address)
        destination = place(a.route.destination.county, a.route.destination.address)
        via = (a.route.via ?? []).map { place($0, nil) }
        validFrom = a.validity.from
        validTo = a.validity.to
        trips = a.trips
        departments = h.routing.departments.map(\.rawValue)
        matchedRules = h.routing.matchedRules
        routingHash = h.routing.tableHash
        required = h.required.map { r in
            Required(department: r.department, name: Department(rawValue: r.department).map { lang.pick($0.nameZh, $0.nameEn) } ?? r.department,
                     state: r.state.rawValue, dueAt: Timestamps.string(r.dueAt), overdue: r.state == .pending && r.dueAt < now,
                     decidedAt: r.decidedAt.map(Timestamps.string))
        }
        decisions = h.decisions.map {
            Decision(department: $0.department, decision: $0.decision.rawValue, approverKid: $0.approverKid, decidedAt: Timestamps.string($0.decidedAt),
                     conditions: $0.conditions, reason: $0.reason)
        }
        permit = h.permit.map {
            Permit(number: $0.number, issuedAt: Timestamps.string($0.issuedAt), validFrom: $0.validFrom, validTo: $0.validTo, issuerKid: $0.issuerKid,
                   decisionToIssueMicros: $0.decisionToIssueMicros, payloadLength: $0.payload.count,
                   state: h.permitState?.rawValue, revokedAt: h.revocation.map { Timestamps.string($0.revokedAt) },
                   revocationReason: h.revocation?.reason, supersedes: $0.supersedes, supersededBy: $0.supersededBy)
        }
        events = h.events.map { Event(seq: $0.seq, at: Timestamps.string($0.at), actor: $0.actor, action: $0.action, hash: $0.hash) }
    }

    func human(_ lang: Language) -> String {
        let d = lang.display
        var out: [String] = []
        func field(_ zh: String, _ en: String, _ value: String) { out.append("  " + TextTable.pad(lang.pick(zh, en), 14) + value) }
        out.append("\(id)  \(reference)  \(stateName(state, lang))" + (closeReason.map { " (\($0))" } ?? ""))
        field("申请企业", "applicant", "\(applicant.name)  \(applicant.creditCode)  \(applicant.contact) \(applicant.phone)")
        field("车辆", "vehicle", "\(plate) (\(plateColor))" + (vehicleType.map { "  \($0)" } ?? ""))
        for (i, c) in crew.enumerated() {
            field(i == 0 ? "司乘人员" : "", i == 0 ? "crew" : "", "\(c.name)  \(c.role)  \(c.idNumber)  \(c.phone)")
        }
        let categories = cargo.map { slug in CargoCategory.withSlug(slug).map { "\($0.name(in: d)) (\(slug))" } ?? slug }
        field("运输物资", "cargo", categories.joined(separator: ", "))
        field("", "", cargoDescription + (weightKg.map { "  \($0) kg" } ?? ""))
        func placeText(_ p: Place) -> String { "\(p.county) \(p.name ?? "?")" + (p.address.map { " \($0)" } ?? "") }
        field("起点", "origin", placeText(origin))
        for v in via { field("途经", "via", placeText(v)) }
        field("终点", "destination", placeText(destination))
        field("有效期", "validity", "\(validFrom) – \(validTo), \(trips)")
        field("提交时间", "submitted", submittedAt)
        out.append(lang.pick("路由：", "Routing:"))
        for r in matchedRules {
            out.append("  \(r.id): \(r.why.text(in: d)) → \(r.departments.map(\.rawValue).joined(separator: ", "))")
        }
        out.append("  " + lang.pick("路由表 SHA-256 ", "table SHA-256 ") + routingHash)
        out.append(lang.pick("审批部门：", "Departments:"))
        for r in required {
            let due = lang.pick("  截止 \(r.dueAt)", "  due \(r.dueAt)") + (r.overdue ? lang.pick("  已超时", "  OVERDUE") : "")
            let decided = r.decidedAt.map { lang.pick("  决定于 \($0)", "  decided \($0)") } ?? ""
            out.append("  \(TextTable.pad(r.department, 18)) \(TextTable.pad(r.name, 16)) \(TextTable.pad(stateName(r.state, lang), 8))\(due)\(decided)")
        }
        if !decisions.isEmpty {
            out.append(lang.pick("审批记录：", "Decisions:"))
            for x in decisions {
                var line = "  \(x.decidedAt)  \(x.department)  \(x.decision)  kid \(x.approverKid)"
                if !x.conditions.isEmpty { line += lang.pick("  条件：", "  conditions: ") + x.conditions.joined(separator: "; ") }
                if let r = x.reason { line += lang.pick("  理由：", "  reason: ") + r }
                out.append(line)
            }
        }
        if let p = permit {
            out.append(lang.pick("通行证：", "Permit:"))
            out.append("  \(p.number)  " + lang.pick("签发于 \(p.issuedAt)", "issued \(p.issuedAt)") + "  \(p.validFrom) – \(p.validTo)")
            out.append("  " + lang.pick("审批到发证 \(p.decisionToIssueMicros) µs，签发密钥 \(p.issuerKid)，载荷 \(p.payloadLength) 字符",
                                        "decision to issue \(p.decisionToIssueMicros) µs, issuer kid \(p.issuerKid), payload \(p.payloadLength) characters"))
            if let state = p.state { out.append("  " + lang.pick("状态：", "state: ") + stateName(state, lang)) }
            if let at = p.revokedAt {
                out.append("  " + lang.pick("吊销于 \(at)：\(p.revocationReason ?? "")", "revoked \(at): \(p.revocationReason ?? "")")
                           + (p.supersededBy.map { lang.pick("（被 \($0) 取代）", " (by \($0))") } ?? ""))
            }
            if let old = p.supersedes { out.append("  " + lang.pick("取代 \(old)", "supersedes \(old)")) }
        }
        out.append(lang.pick("审计事件：", "Audit events:"))
        for e in events { out.append("  " + TextTable.pad("#\(e.seq)", 6) + "  \(e.at)  \(TextTable.pad(e.action, 16)) \(e.actor)  \(e.hash.prefix(16))…") }
        return out.joined(separator: "\n")
    }
}

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show everything about one application: routing, decisions, the permit, the audit trail.",
        discussion: """
        Crew ID numbers and phones are masked, as on the permit.
        --qr prints the permit's QR code under the details in half-block characters, for a phone \
        to scan from the screen; --invert draws it for light text on a dark terminal.

        Examples:
          permit show A000123
          permit show 330114000001 --lang zh
          permit show A000123 --json
          permit show 330114000001 --qr --invert
        """
    )

    @Argument(help: "An application ID (A000123) or a 12-digit permit number.")
    var id: String

    @Flag(help: "Print the permit's QR code (level Q) under the details.")
    var qr = false

    @Flag(help: "With --qr: draw light modules, for a dark terminal background.")
    var invert = false

    @OptionGroup var data: DataOptions
    @OptionGroup var reader: ReaderKeyOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reporting(json: output.json, refusalCodes: ["show.notIssued"]) {
            if invert && !qr {
                throw CommandFailure("show.invert", "--invert draws the QR code: give --qr as well", field: "invert", value: "true", rule: "--invert only with --qr")
            }
            if qr && output.json {
                throw CommandFailure("show.qr", "--qr draws on a terminal and has no JSON form; use permit export --format payload or qr-svg",
                                     field: "qr", value: "true", rule: "--qr without --json")
            }
            let service = try await data.service(signer: try reader.signer())

            let history = try await service.history(id)
            let detail = ApplicationDetail(history, now: try currentClock().now(), lang: output.language)
            Console.out(output.json ? JSONOutput.line(detail) : detail.human(output.language))
            guard qr else { return }
            guard let permit = history.permit else {
                throw CommandFailure("show.notIssued", "\(history.application.publicID) is \(history.application.state.rawValue): it has no permit, so no QR code",
                                     field: "id", value: id, rule: "--qr needs an issued permit", exitCode: 1)
            }
            let code: QRCode
            do { code = try QRCode(text: permit.payload, ecc: .Q) } catch {
                throw CommandFailure("show.qr", "permit \(permit.number): \(error)", field: "qr", value: "Q", rule: "the payload must fit a QR code")
            }
            Console.out("")
            FileHandle.standardOutput.write(Data(code.terminal(inverted: invert).utf8))
            Console.out("  \(permit.number)  QR \(code.version)-\(code.errorCorrection.rawValue)")
        }
    }
}

/// One row of `permit queue --json`.
struct QueueRow: Encodable {
    var id: String
    var reference: String
    var creditCode: String
    var plate: String
    var departments: [String]
    var submittedAt: String
    var ageSeconds: Int
    var dueAt: String
    var overdue: Bool
}

struct Queue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A department's pending work, oldest first, with age and due time.",
        discussion: """
        --overdue lists only what is past its review deadline by the clock (PERMIT_NOW if set).

        Examples:
          permit queue --department HEALTH
          permit queue --department TRANSPORT --overdue --json
        """
    )

    @OptionGroup var department: DepartmentOption

    @Flag(help: "Only what is past its deadline.")
    var overdue = false

    @OptionGroup var page: PageOptions
    @OptionGroup var data: DataOptions
    @OptionGroup var reader: ReaderKeyOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let lang = output.language
        try await reporting(json: output.json) {
            let d = department.department
            let service = try await data.service(signer: try reader.signer())

            let now = try currentClock().now()
            let (entries, next) = try await page.rows { limit, after in
                try await service.queue(QueueQuery(department: d, overdue: overdue, limit: limit, after: after))
            }
            let rows = entries.map { entry -> QueueRow in
                let (app, slot) = (entry.application, entry.required)
                return QueueRow(id: app.publicID, reference: app.reference, creditCode: app.creditCode, plate: app.plate,
                                departments: ApplicationRow(app).departments, submittedAt: Timestamps.string(app.submittedAt),
                                ageSeconds: Int(now.timeIntervalSince(app.submittedAt)), dueAt: Timestamps.string(slot.dueAt),
                                overdue: slot.dueAt < now)
            }
            if output.json {
                Console.out(JSONOutput.line(rows))
                page.reportNext(next, json: true, lang: lang, command: "permit queue --department \(d.rawValue)")
                return
            }
            Console.out("\(d.rawValue) \(d.name(in: lang.display))")
            if rows.isEmpty {
                Console.out(lang.pick(overdue ? "（无超时申请）" : "（队列为空）", overdue ? "(nothing overdue)" : "(the queue is empty)"))
                return
            }
            Console.out(TextTable.render(
                header: lang.pick(["编号", "申请单号", "车牌", "审批部门", "已等待", "截止时间", ""], ["ID", "reference", "plate", "departments", "age", "due", ""]),
                rows: rows.map { [$0.id, $0.reference, $0.plate, $0.departments.joined(separator: ","), Timestamps.duration(Double($0.ageSeconds), lang),
                                  $0.dueAt, $0.overdue ? lang.pick("已超时", "OVERDUE") : ""] }))
            let late = rows.filter(\.overdue).count
            Console.out(lang.pick("共 \(rows.count) 件，超时 \(late) 件", "\(rows.count) pending, \(late) overdue"))
            page.reportNext(next, json: false, lang: lang, command: "permit queue --department \(d.rawValue)")
        }
    }
}
