# cmake/AwecacheDeps.cmake: finds the third-party libraries. Everything comes from Debian packages;
# `tools/deps` installs them. Each library found through pkg-config becomes an imported target
# PkgConfig::<name> (GLOBAL, so every directory can link it) plus the usual <name>_FOUND,
# <name>_VERSION, <name>_INCLUDE_DIRS and <name>_LIBRARIES variables.
#
#   library        package            imported target       needed when
#   jemalloc       libjemalloc-dev    PkgConfig::jemalloc   always (used by later layers)
#   xxHash         libxxhash-dev      PkgConfig::xxhash     always (used by later layers)
#   cmocka         libcmocka-dev      PkgConfig::cmocka     AWECACHE_BUILD_TESTS
#   Google Bench.  libbenchmark-dev   benchmark::benchmark  AWECACHE_BUILD_BENCH
#   liburing       liburing-dev       PkgConfig::uring      optional: AWECACHE_HAVE_LIBURING says
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

awecache_require_pkg(jemalloc jemalloc libjemalloc-dev)
awecache_require_pkg(xxhash libxxhash libxxhash-dev)

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
