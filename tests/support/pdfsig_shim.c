/* Test-side workaround for poppler 22.12's pdfsig (Debian bookworm): SignatureHandler::validateCertificate
 * ignores CERT_PKIXVerifyCert's return value and reads PORT_GetError() instead. NSS leaves the error of an
 * optional-extension lookup (SEC_ERROR_EXTENSION_NOT_FOUND) behind on success, so pdfsig reports every
 * trusted chain as "Unknown issue with Certificate". Later poppler releases check the return value.
 * Loaded with LD_PRELOAD by tests/support/signing.py: on success it clears the stale error; failures pass
 * through untouched, so an untrusted or revoked chain is still reported as such.
 * Declared without NSS headers (SECStatus is an int enum, SECCertificateUsage a PRInt64). */
#define _GNU_SOURCE
#include <dlfcn.h>

typedef int SECStatus;
typedef long long SECCertificateUsage;

extern void PORT_SetError(int value);

SECStatus CERT_PKIXVerifyCert(void *cert, SECCertificateUsage usages, void *in, void *out, void *wincx) {
    static SECStatus (*real)(void *, SECCertificateUsage, void *, void *, void *);
    if (!real) real = (SECStatus (*)(void *, SECCertificateUsage, void *, void *, void *))dlsym(RTLD_NEXT, "CERT_PKIXVerifyCert");
    SECStatus status = real(cert, usages, in, out, wincx);
    if (status == 0) PORT_SetError(0);
    return status;
}
