// The status page (status_page.html), compiled into the agent by
// embed_status_page.cmake so the agent serves it without files of its own.
#pragma once

namespace meshbpf {

extern const char kStatusPageHtml[];

}  // namespace meshbpf
