//! QR codes as inline SVG (the notice's registration link, the second factor's enrolment).

/// `data` as an inline SVG QR code named `label` for screen readers; attributes only, since the
/// CSP forbids inline styles. Empty when `data` is too long for a QR code.
pub fn svg(data: &str, label: &str) -> String {
    use qrcode::render::svg;
    let Ok(code) = qrcode::QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::M)
    else {
        return String::new();
    };
    let svg = code
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let svg = svg
        .split_once("?>")
        .map(|(_, rest)| rest.to_owned())
        .unwrap_or(svg);
    svg.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{label}\" "),
        1,
    )
}
