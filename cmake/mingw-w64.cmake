# cmake/mingw-w64.cmake: cross-builds awecache for 64-bit Windows with mingw-w64 (Debian package
# mingw-w64) from Linux. tools/cross-windows uses it:
#
#   cmake -S . -B build/mingw -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64.cmake \
#         -DAWECACHE_BUILD_TESTS=OFF -DAWECACHE_BUILD_BENCH=OFF
#
# The Windows build has no jemalloc, cmocka or liburing (Debian ships no mingw builds of them);
# cmake/AwecacheDeps.cmake then uses the system allocator and xxHash header-only, and the tests
# are the smoke test in tests/windows_smoke/.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(AWECACHE_MINGW_TRIPLET x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${AWECACHE_MINGW_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${AWECACHE_MINGW_TRIPLET}-g++)
set(CMAKE_RC_COMPILER ${AWECACHE_MINGW_TRIPLET}-windres)

# Headers and libraries come from the mingw-w64 tree only; programs (pkg-config, ...) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${AWECACHE_MINGW_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config must not hand the host's Linux libraries to the Windows build.
set(ENV{PKG_CONFIG_LIBDIR} /usr/${AWECACHE_MINGW_TRIPLET}/lib/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

# The cmocka suite and the Google Benchmark programs have no Windows build (no mingw cmocka or
# benchmark in Debian): off unless asked for. The Windows smoke test (tests/windows_smoke) is built
# with the libraries.
set(AWECACHE_BUILD_TESTS OFF CACHE BOOL "Build the test suite")
set(AWECACHE_BUILD_BENCH OFF CACHE BOOL "Build the Google Benchmark programs")
