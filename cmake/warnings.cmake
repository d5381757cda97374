# One strict warning set for every target of the project (after bubblewrap's and git's lists).
set(TD_WARNINGS
  -Wall -Wextra -Werror
  -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wmissing-declarations
  -Wimplicit-function-declaration -Wpointer-arith -Winit-self -Wreturn-type
  -Wformat=2 -Wformat-security -Wformat-nonliteral -Wswitch-default
  -Wint-conversion -Wincompatible-pointer-types -Wmisleading-indentation
  -Wvla -Wwrite-strings -Wcast-align -Wundef -Wnull-dereference
  -Wconversion -Wno-sign-conversion -fno-common)

set(TD_HARDENING -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE)

add_compile_definitions(_GNU_SOURCE)
add_compile_options(${TD_WARNINGS})
if(TD_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
else()
  add_compile_options(${TD_HARDENING})
  add_link_options(-pie -Wl,-z,relro,-z,now)
endif()

# libFuzzer builds instrument every library, not only the harnesses.
if(TD_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
