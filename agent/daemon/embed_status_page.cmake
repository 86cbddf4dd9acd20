# cmake -DIN=status_page.html -DOUT=status_page_html.cc -P embed_status_page.cmake
# Writes the page as a C++ raw string (status_page.h declares it).
file(READ "${IN}" page)
string(FIND "${page}" ")page\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw string's end marker )page\"")
endif()
file(WRITE "${OUT}" "#include \"agent/daemon/status_page.h\"\n\nnamespace meshbpf {\n\nconst char kStatusPageHtml[] = R\"page(${page})page\";\n\n}  // namespace meshbpf\n")
