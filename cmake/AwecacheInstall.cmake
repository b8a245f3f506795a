# cmake/AwecacheInstall.cmake: what `cmake --install` puts under the prefix. Included at the end of
# the top-level CMakeLists.txt, after every directory has made its targets.
#
#   <prefix>/include/awecache/awe.h                     the native API
#   <prefix>/<libdir>/libawecache.so{,.0,.0.1.0}        shared library with its soname links
#   <prefix>/<libdir>/libawecache.a                     static library
#   <prefix>/<libdir>/pkgconfig/awecache.pc             pkg-config: -I.../include/awecache -lawecache
#   <prefix>/<libdir>/cmake/awecache/*.cmake            find_package(awecache): awecache::awecache
#                                                       (shared), awecache::awecache_static
#
# Other directories add their own installed targets to the same export set, `awecacheTargets`
# (install(TARGETS x EXPORT awecacheTargets ...)), and they appear as awecache::x. The
# Windows-compatible API (awe/compat) does so with awewin32.
#
# AWECACHE_INSTALL_PKG_DEPS lists the pkg-config modules the installed *static* library needs,
# as <prefix>=<module> pairs matching cmake/AwecacheDeps.cmake (e.g. "jemalloc=jemalloc" or
# "xxhash=libxxhash"). A layer that links PkgConfig::<prefix> into libawecache appends to it; the
# package config then recreates PkgConfig::<prefix> for consumers and awecache.pc lists the
# module in Requires.private.
include(CMakePackageConfigHelpers)

set(AWECACHE_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/awecache)
set(AWECACHE_INSTALL_PKGCONFIGDIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# 0. Libraries the platform's and the engine's objects need (AWECACHE_PLATFORM_PKG_DEPS and
#    AWECACHE_ENGINE_PKG_DEPS, <prefix>=<module> pairs set by platform/CMakeLists.txt: liburing
#    when found, and engine/CMakeLists.txt: jemalloc in 64-bit builds without sanitizers): linked
#    into both libraries (and awecache_internal, the same objects for the build tree's programs)
#    here, where they exist, and named for the installed static library.
foreach(dep IN LISTS AWECACHE_PLATFORM_PKG_DEPS AWECACHE_ENGINE_PKG_DEPS)
  string(REPLACE "=" ";" pair "${dep}")
  list(GET pair 0 pfx)
  target_link_libraries(awecache PRIVATE PkgConfig::${pfx})
  target_link_libraries(awecache_static PRIVATE PkgConfig::${pfx})
  target_link_libraries(awecache_internal PRIVATE PkgConfig::${pfx}) # the build tree's programs
  list(APPEND AWECACHE_INSTALL_PKG_DEPS ${dep})
endforeach()

# 1. The header and the two libraries, into the export set.
install(FILES ${PROJECT_SOURCE_DIR}/awe/awe.h ${PROJECT_SOURCE_DIR}/engine/awecache.h
              ${PROJECT_SOURCE_DIR}/engine/awecache_bt.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/awecache)
install(TARGETS awecache awecache_static
        EXPORT awecacheTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/awecache)

# 2. The CMake package: targets, config and version files.
install(EXPORT awecacheTargets
        NAMESPACE awecache::
        FILE awecacheTargets.cmake
        DESTINATION ${AWECACHE_INSTALL_CMAKEDIR})

set(AWECACHE_CONFIG_PKG_DEPS_BLOCK "")
set(awecache_pc_requires_private "")
if(AWECACHE_INSTALL_PKG_DEPS)
  set(AWECACHE_CONFIG_PKG_DEPS_BLOCK "find_dependency(PkgConfig)\n")
endif()
foreach(dep IN LISTS AWECACHE_INSTALL_PKG_DEPS)
  string(REPLACE "=" ";" pair "${dep}")
  list(GET pair 0 pfx)
  list(GET pair 1 mod)
  string(APPEND AWECACHE_CONFIG_PKG_DEPS_BLOCK
         "if(NOT TARGET PkgConfig::${pfx})\n"
         "  pkg_check_modules(${pfx} REQUIRED QUIET IMPORTED_TARGET ${mod})\n"
         "endif()\n")
  list(APPEND awecache_pc_requires_private ${mod})
endforeach()

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/awecacheConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/awecacheConfig.cmake
                              INSTALL_DESTINATION ${AWECACHE_INSTALL_CMAKEDIR})
# 0.x releases promise nothing across minor versions.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/awecacheConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION}
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/awecacheConfig.cmake
              ${PROJECT_BINARY_DIR}/awecacheConfigVersion.cmake
        DESTINATION ${AWECACHE_INSTALL_CMAKEDIR})

# 3. The pkg-config file. Its prefix is found from the .pc file's own place (${pcfiledir}), so
#    `cmake --install build --prefix anywhere` gives a working file without reconfiguring.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(AWECACHE_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(AWECACHE_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(AWECACHE_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  file(RELATIVE_PATH pc_up /awecache_prefix/${AWECACHE_INSTALL_PKGCONFIGDIR} /awecache_prefix)
  string(REGEX REPLACE "/$" "" pc_up "${pc_up}")
  set(AWECACHE_PC_PREFIX "\${pcfiledir}/${pc_up}")
  set(AWECACHE_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(AWECACHE_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
set(AWECACHE_PC_REQUIRES_PRIVATE_LINE "")
if(awecache_pc_requires_private)
  list(JOIN awecache_pc_requires_private " " reqs)
  set(AWECACHE_PC_REQUIRES_PRIVATE_LINE "Requires.private: ${reqs}\n")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/awecache.pc.in ${PROJECT_BINARY_DIR}/awecache.pc @ONLY)
if(WIN32)
  # The static library needs Windows' system libraries (platform/CMakeLists.txt), not pthreads.
  file(READ ${PROJECT_BINARY_DIR}/awecache.pc awecache_pc)
  list(JOIN AWECACHE_PLATFORM_SYSTEM_LIBS " -l" awecache_win_libs)
  string(REPLACE "-lpthread" "-l${awecache_win_libs}" awecache_pc "${awecache_pc}")
  file(WRITE ${PROJECT_BINARY_DIR}/awecache.pc "${awecache_pc}")
endif()
install(FILES ${PROJECT_BINARY_DIR}/awecache.pc DESTINATION ${AWECACHE_INSTALL_PKGCONFIGDIR})
