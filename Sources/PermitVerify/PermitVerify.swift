// PermitVerify
