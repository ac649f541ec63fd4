import groovy.transform.CompileStatic

/**
 * The parent of the harness's script loader: everything of the test class path except the library's own
 * classes (org.mlci.*), which are compiled from src/ by the script loader (with the sandbox), as Jenkins
 * compiles a library's src/ into the build's class loader.
 */
@CompileStatic
class LibraryClassLoader extends ClassLoader {
    LibraryClassLoader(ClassLoader parent) { super(parent) }

    @Override
    protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
        if (name.startsWith('org.mlci.')) {
            throw new ClassNotFoundException(name)
        }
        return super.loadClass(name, resolve)
    }
}
