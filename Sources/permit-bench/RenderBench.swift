// `permit-bench render`: throughput of the QR PNG, the paper permit PDF and the phone card, each
// as a ratio to raw libqrencode encoding of the same text measured in the same run.
import CQREncode
import Foundation
import PermitRender

func runRenderBench() throws {
    let payload = renderBenchPayload(characters: 520)
    let permit = renderBenchPermit(payload: payload)
    let code = try QRCode(text: payload)
    print("render: typical permit payload \(payload.count) characters, QR version \(code.version) at level \(code.errorCorrection.rawValue)")

    let encode = try measure("QRcode_encodeString (reference)") {
        guard let c = QRcode_encodeString(payload, 0, QR_ECLEVEL_Q, QR_MODE_8, 1) else {
            throw RenderError(code: "bench", message: "libqrencode failed")
        }
        QRcode_free(c)
    }
    let png = try measure("QR PNG, 4 px/module (encode + render)") {
        _ = try QRCode(text: payload).png(moduleSize: 4)
    }
    let pdf = try measure("paper permit PDF page") {
        _ = try PermitDocument.pdf([permit])
    }
    print("render: one PDF page is \(try PermitDocument.pdf([permit]).count) bytes")
    let card = try measure("phone card PNG, 1080 px") {
        _ = try PermitDocument.cardPNG(permit)
    }
    print(String(format: "render: ratio PNG/encode %.3f, PDF page/encode %.4f, card/encode %.4f",
                 png / encode, pdf / encode, card / encode))
}

/// Runs `body` repeatedly for about two seconds and prints and returns operations per second.
private func measure(_ name: String, seconds: Double = 2, _ body: () throws -> Void) throws -> Double {
    try body() // warm-up: fonts, caches
    let start = DispatchTime.now().uptimeNanoseconds
    var count = 0
    var elapsed = 0.0
    repeat {
        try body()
        count += 1
        elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    } while elapsed < seconds
    let rate = Double(count) / elapsed
    print(String(format: "render: %@: %.1f/s (%d in %.2f s)", name, rate, count, elapsed))
    return rate
}

/// "FP1:" + random Base45 of the given total length: signed, compressed bytes look like noise.
private func renderBenchPayload(characters: Int) -> String {
    let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    var state: UInt64 = 0x5EED
    var text = "FP1:"
    while text.count < characters {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        text.append(alphabet[Int((state >> 33) % 45)])
    }
    return text
}

private func renderBenchPermit(payload: String) -> PaperPermit {
    PaperPermit(
        number: "330114000001", plate: "浙A12345", plateColor: "黄色", vehicleType: "重型半挂牵引车",
        crew: [.init(name: "王建国", role: "驾驶员", maskedDocument: "330106********1234", maskedPhone: "138****5678"),
               .init(name: "李秀英", role: "押运员", maskedDocument: "330104********002X", maskedPhone: "139****1024")],
        cargoCategories: ["医疗物资与药品"], cargoDescription: "医用防护服、口罩", weight: "18 吨",
        origin: .init(name: "浙江省杭州市钱塘区"), destination: .init(name: "江苏省苏州市吴江区"),
        validFrom: "2024年5月1日", validTo: "2024年5月30日", trips: "多次",
        issuingAuthority: "杭州市钱塘区交通运输局", verificationPhone: "0571-86921234",
        departments: ["卫生健康局"], issuedAt: "2024年4月30日", payload: payload)
}
