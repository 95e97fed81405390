// PermitRouting
