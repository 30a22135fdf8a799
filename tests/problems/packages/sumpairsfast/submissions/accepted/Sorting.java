import java.io.*;
import java.util.*;

public class Sorting {
    public static void main(String[] args) throws IOException {
        DataInputStream in = new DataInputStream(new BufferedInputStream(System.in, 1 << 16));
        int n = nextInt(in), t = nextInt(in);
        int[] a = new int[n];
        for (int i = 0; i < n; i++) a[i] = nextInt(in);
        Arrays.sort(a);
        long pairs = 0;
        int i = 0, j = n - 1;
        while (i < j) {
            int s = a[i] + a[j];
            if (s < t) i++;
            else if (s > t) j--;
            else if (a[i] == a[j]) { long k = j - i + 1; pairs += k * (k - 1) / 2; break; }
            else {
                int x = a[i], y = a[j];
                long ci = 0, cj = 0;
                while (i <= j && a[i] == x) { i++; ci++; }
                while (j >= i && a[j] == y) { j--; cj++; }
                pairs += ci * cj;
            }
        }
        System.out.println(pairs);
    }

    private static int nextInt(DataInputStream in) throws IOException {
        int r = 0, b = in.read();
        while (b < '0' || b > '9') b = in.read();
        while (b >= '0' && b <= '9') { r = r * 10 + (b - '0'); b = in.read(); }
        return r;
    }
}
