// libjpeg (libjpeg-turbo's libjpeg62 API). libjpeg reports fatal errors through error_exit, which
// by default calls exit(); Swift cannot longjmp, so the decode lives here in C and returns a status.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf escape;
    char message[JMSG_LENGTH_MAX];
} cjpeg_error_mgr;

static void cjpeg_error_exit(j_common_ptr cinfo) {
    cjpeg_error_mgr *err = (cjpeg_error_mgr *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, err->message);
    longjmp(err->escape, 1);
}

static void cjpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

/// Decodes a JPEG held in memory to 8-bit greyscale. On success returns 0 and sets *pixels
/// (malloc'd, width*height bytes, caller frees with free()), *width and *height. On failure
/// returns -1 and copies libjpeg's message (at most message_size bytes, NUL-terminated).
static inline int cjpeg_decode_grey(const unsigned char *data, unsigned long size,
                                    unsigned char **pixels, int *width, int *height,
                                    char *message, size_t message_size) {
    struct jpeg_decompress_struct cinfo;
    cjpeg_error_mgr err;
    unsigned char *volatile out = NULL;
    *pixels = NULL; *width = 0; *height = 0;
    if (message_size > 0) message[0] = 0;
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = cjpeg_error_exit;
    err.pub.output_message = cjpeg_output_message;
    err.message[0] = 0;
    if (setjmp(err.escape)) {
        if (message_size > 0) { strncpy(message, err.message, message_size - 1); message[message_size - 1] = 0; }
        jpeg_destroy_decompress(&cinfo);
        free(out);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, size);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = JCS_GRAYSCALE;
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != 1) {
        strncpy(err.message, "unexpected number of output components", sizeof err.message - 1);
        longjmp(err.escape, 1);
    }
    size_t w = cinfo.output_width, h = cinfo.output_height;
    out = (unsigned char *)malloc(w * h > 0 ? w * h : 1);
    if (!out) {
        strncpy(err.message, "out of memory", sizeof err.message - 1);
        longjmp(err.escape, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = out + (size_t)cinfo.output_scanline * w;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    *pixels = out; *width = (int)w; *height = (int)h;
    return 0;
}
