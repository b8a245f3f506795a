# cmake/AwecacheDeps.cmake: finds the third-party libraries. Everything comes from Debian packages;
# `tools/deps` installs them. Each library found through pkg-config becomes an imported target
# PkgConfig::<name> (GLOBAL, so every directory can link it) plus the usual <name>_FOUND,
# <name>_VERSION, <name>_INCLUDE_DIRS and <name>_LIBRARIES variables.
#
#   library        package            imported target       needed when
#   jemalloc       libjemalloc-dev    PkgConfig::jemalloc   64-bit builds (used by later layers)
#   xxHash         libxxhash-dev      PkgConfig::xxhash     always (used by later layers)
#   cmocka         libcmocka-dev      PkgConfig::cmocka     AWECACHE_BUILD_TESTS
#   Google Bench.  libbenchmark-dev   benchmark::benchmark  AWECACHE_BUILD_BENCH
#   liburing       liburing-dev       PkgConfig::uring      optional: AWECACHE_HAVE_LIBURING says
#
# Windows (the mingw-w64 cross-build): no jemalloc (the system allocator), xxHash header-only,
# no cmocka, Google Benchmark or liburing; see the WIN32 branch below. 32-bit Linux
# (cmake/i386.cmake): no jemalloc (see below); the rest from Debian's i386 multiarch packages.
#
# Nothing here links a library into libawecache: a layer that starts using one links the imported
# target itself (and, for the installed static library, adds it to AWECACHE_INSTALL_PKG_DEPS; see
# cmake/AwecacheInstall.cmake).

# awecache_require_pkg(<prefix> <module> <debian package> [<why>]): pkg_check_modules with a
# failure message that names the package to install.
function(awecache_require_pkg prefix module package)
  pkg_check_modules(${prefix} QUIET IMPORTED_TARGET GLOBAL ${module})
  if(NOT ${prefix}_FOUND)
    set(why "")
    if(ARGC GREATER 3)
      set(why " (${ARGV3})")
    endif()
    message(FATAL_ERROR
      "awecache: ${module} not found through pkg-config${why}.\n"
      "Install it with:  sudo apt-get install ${package}\n"
      "or run tools/deps, which installs every build dependency.")
  endif()
  message(STATUS "awecache: found ${module} ${${prefix}_VERSION}")
  # pkg_check_modules sets these in this function's scope only: hand them to the caller.
  foreach(v FOUND VERSION INCLUDE_DIRS LIBRARIES LIBRARY_DIRS LDFLAGS CFLAGS)
    set(${prefix}_${v} "${${prefix}_${v}}" PARENT_SCOPE)
  endforeach()
endfunction()

if(WIN32)
  # The Windows cross-build (cmake/mingw-w64.cmake): Debian has no mingw build of jemalloc, so
  # the system allocator serves; xxHash is header-only (the engine defines XXH_INLINE_ALL), so
  # the host's header (package libxxhash-dev) is copied into the build tree and that folder alone
  # goes on the Windows include path (never /usr/include, whose Linux headers would shadow
  # mingw's). The engine adds AWECACHE_XXHASH_INCLUDE_DIR to its include path.
  find_file(AWECACHE_XXHASH_HEADER xxhash.h PATHS /usr/include NO_DEFAULT_PATH
            NO_CMAKE_FIND_ROOT_PATH)
  if(NOT AWECACHE_XXHASH_HEADER)
    message(FATAL_ERROR
      "awecache: xxhash.h not found in /usr/include (the Windows build uses xxHash header-only).\n"
      "Install it with:  sudo apt-get install libxxhash-dev")
  endif()
  set(AWECACHE_XXHASH_INCLUDE_DIR ${PROJECT_BINARY_DIR}/xxhash-include)
  file(COPY ${AWECACHE_XXHASH_HEADER} DESTINATION ${AWECACHE_XXHASH_INCLUDE_DIR})
  message(STATUS "awecache: Windows build: system allocator, xxHash header-only (${AWECACHE_XXHASH_HEADER})")
  if(AWECACHE_BUILD_TESTS OR AWECACHE_BUILD_BENCH)
    message(FATAL_ERROR
      "awecache: the cmocka tests and the benchmarks do not build for Windows (no mingw cmocka "
      "or Google Benchmark): configure with -DAWECACHE_BUILD_TESTS=OFF -DAWECACHE_BUILD_BENCH=OFF "
      "(cmake/mingw-w64.cmake makes both the default); the Windows smoke test is built anyway.")
  endif()
else()
  if(CMAKE_SIZEOF_VOID_P EQUAL 4)
    # The 32-bit build (cmake/i386.cmake): Debian's libjemalloc-dev is not Multi-Arch: same, so
    # its i386 package cannot be installed beside the host's (apt removes one for the other);
    # nothing links jemalloc yet, so this build goes without it, like the Windows one.
    message(STATUS "awecache: 32-bit build: system allocator (no jemalloc)")
  else()
    awecache_require_pkg(jemalloc jemalloc libjemalloc-dev)
  endif()
  awecache_require_pkg(xxhash libxxhash libxxhash-dev)
endif()

if(AWECACHE_BUILD_TESTS)
  awecache_require_pkg(cmocka cmocka libcmocka-dev
                       "needed by the tests; or configure with -DAWECACHE_BUILD_TESTS=OFF")
endif()

if(AWECACHE_BUILD_BENCH)
  find_package(benchmark QUIET)
  if(NOT benchmark_FOUND)
    message(FATAL_ERROR
      "awecache: Google Benchmark (find_package(benchmark)) not found; it builds bench/.\n"
      "Install it with:  sudo apt-get install libbenchmark-dev\n"
      "or run tools/deps; or configure with -DAWECACHE_BUILD_BENCH=OFF.")
  endif()
  message(STATUS "awecache: found Google Benchmark ${benchmark_VERSION}")
endif()

# liburing is optional: nothing uses it yet. The cache variable records what configure found.
pkg_check_modules(uring QUIET IMPORTED_TARGET GLOBAL liburing)
if(uring_FOUND)
  set(_awecache_have_uring ON)
  message(STATUS "awecache: found liburing ${uring_VERSION}")
else()
  set(_awecache_have_uring OFF)
  message(STATUS "awecache: liburing not found (optional; package liburing-dev)")
endif()
set(AWECACHE_HAVE_LIBURING ${_awecache_have_uring} CACHE BOOL
    "liburing was found (PkgConfig::uring); set by configure, not an option" FORCE)
unset(_awecache_have_uring)
