// PermitRender
