/* Writes a JaCoCo XML report from a jacoco.exec file with JaCoCo's own
   report library (org.jacoco.report's XMLFormatter), the way the JaCoCo
   command line's `report --xml` does: Debian packages JaCoCo's libraries
   (libjacoco-java) but not its command-line jar.
   Usage: java JacocoXml <jacoco.exec> <classes dir> <sources dir> <out.xml> */
import java.io.File;
import java.io.FileOutputStream;
import java.io.OutputStream;

import org.jacoco.core.analysis.Analyzer;
import org.jacoco.core.analysis.CoverageBuilder;
import org.jacoco.core.tools.ExecFileLoader;
import org.jacoco.report.DirectorySourceFileLocator;
import org.jacoco.report.IReportVisitor;
import org.jacoco.report.xml.XMLFormatter;

public class JacocoXml {
    public static void main(String[] args) throws Exception {
        ExecFileLoader loader = new ExecFileLoader();
        loader.load(new File(args[0]));
        CoverageBuilder builder = new CoverageBuilder();
        new Analyzer(loader.getExecutionDataStore(), builder).analyzeAll(new File(args[1]));
        try (OutputStream out = new FileOutputStream(args[3])) {
            IReportVisitor visitor = new XMLFormatter().createVisitor(out);
            visitor.visitInfo(loader.getSessionInfoStore().getInfos(),
                    loader.getExecutionDataStore().getContents());
            visitor.visitBundle(builder.getBundle("samples"),
                    new DirectorySourceFileLocator(new File(args[2]), "UTF-8", 4));
            visitor.visitEnd();
        }
    }
}
