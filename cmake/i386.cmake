# cmake/i386.cmake: builds awecache as a 32-bit x86 (i386) Linux program on a 64-bit Debian
# machine, with gcc -m32 and Debian's multiarch i386 packages (gcc-multilib, g++-multilib,
# libc6-dev-i386, libcmocka-dev:i386, libxxhash-dev:i386, liblmdb-dev:i386 for awecache-bench's
# LMDB side; tools/deps installs them). tools/test's `i386` build uses it:
#
#   cmake -S . -B build/i386 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/i386.cmake \
#         -DAWECACHE_BUILD_BENCH=OFF
#
# Nothing 64-bit may leak in: pkg-config searches only the i386 multiarch directory (and the
# architecture-independent /usr/share/pkgconfig), find_library looks in lib/i386-linux-gnu, and
# every compile and link gets -m32. liburing is used only if its i386 package is installed
# (Debian's liburing-dev:i386 is often not co-installable with the host's linux-libc-dev; without
# it the platform serves the backing file with pread/pwrite), and Google Benchmark is not built
# (no i386 package wanted), so the benchmarks are off by default.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR i686)
set(CMAKE_LIBRARY_ARCHITECTURE i386-linux-gnu)

set(CMAKE_C_COMPILER gcc)
set(CMAKE_CXX_COMPILER g++)
set(CMAKE_C_FLAGS_INIT -m32)
set(CMAKE_CXX_FLAGS_INIT -m32)
set(CMAKE_EXE_LINKER_FLAGS_INIT -m32)
set(CMAKE_SHARED_LINKER_FLAGS_INIT -m32)
set(CMAKE_MODULE_LINKER_FLAGS_INIT -m32)

# Libraries: the i386 multiarch directories only; headers are shared (/usr/include, with the
# per-architecture ones in /usr/include/i386-linux-gnu, which gcc -m32 searches itself).
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_IGNORE_PATH /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu /usr/lib64 /lib64)
set(FIND_LIBRARY_USE_LIB64_PATHS OFF)
set_property(GLOBAL PROPERTY FIND_LIBRARY_USE_LIB64_PATHS OFF)
set_property(GLOBAL PROPERTY FIND_LIBRARY_USE_LIB32_PATHS ON)

# pkg-config must hand out the i386 libraries, never the host's x86_64 ones.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/i386-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

set(AWECACHE_BUILD_BENCH OFF CACHE BOOL "Build the Google Benchmark programs")
