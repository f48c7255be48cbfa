import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One message between ImageJ and the Python worker (the worker's stdin and stdout).
 *
 * On the wire: a 4-byte big-endian length N, N bytes of UTF-8 header, then the payload. The
 * header is lines "key=value" joined by "\n", the first key being "type"; in values a backslash
 * is written "\\" and a newline "\n". A header key "bytes=B" announces B bytes of payload: the
 * pixels of one plane, little-endian, row by row, described by dtype (uint8, uint16, float32),
 * width and height. The message kinds are listed in imagej_n2v/imagej/worker/protocol.py.
 */
final class N2V_Message {
    /** Changed whenever a message kind or key changes meaning; the worker's hello must match. */
    static final int PROTOCOL = 2;
    private static final int MAX_HEADER = 1 << 24;

    final String type;
    final Map<String, String> values = new LinkedHashMap<String, String>();
    byte[] payload = new byte[0];

    N2V_Message(String type) {
        this.type = type;
    }

    N2V_Message put(String key, Object value) {
        values.put(key, String.valueOf(value));
        return this;
    }

    String get(String key) {
        String value = values.get(key);
        return value == null ? "" : value;
    }

    int number(String key) {
        return Integer.parseInt(get(key));
    }

    /** A message carrying a plane of ImageJ pixels (byte[], short[] or float[]). */
    static N2V_Message plane(String type, Object pixels, int width, int height) {
        N2V_Message message = new N2V_Message(type).put("width", width).put("height", height);
        ByteBuffer buffer;
        if (pixels instanceof byte[]) {
            message.put("dtype", "uint8");
            message.payload = (byte[]) pixels;
            return message;
        } else if (pixels instanceof short[]) {
            short[] values = (short[]) pixels;
            buffer = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
            buffer.asShortBuffer().put(values);
            message.put("dtype", "uint16");
        } else if (pixels instanceof float[]) {
            float[] values = (float[]) pixels;
            buffer = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            buffer.asFloatBuffer().put(values);
            message.put("dtype", "float32");
        } else {
            throw new IllegalArgumentException("RGB planes cannot be sent");
        }
        message.payload = buffer.array();
        return message;
    }

    /** The payload as ImageJ pixels: byte[], short[] or float[] after its dtype. */
    Object pixels() {
        String dtype = get("dtype");
        if (dtype.equals("uint8"))
            return payload;
        ByteBuffer buffer = ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN);
        if (dtype.equals("uint16")) {
            short[] values = new short[payload.length / 2];
            buffer.asShortBuffer().get(values);
            return values;
        }
        if (dtype.equals("float32")) {
            float[] values = new float[payload.length / 4];
            buffer.asFloatBuffer().get(values);
            return values;
        }
        throw new IllegalArgumentException("unknown plane type " + dtype);
    }

    void write(DataOutputStream out) throws IOException {
        StringBuilder header = new StringBuilder("type=").append(type);
        for (Map.Entry<String, String> entry : values.entrySet())
            header.append('\n').append(entry.getKey()).append('=').append(escape(entry.getValue()));
        if (payload.length > 0)
            header.append("\nbytes=").append(payload.length);
        byte[] bytes = header.toString().getBytes(StandardCharsets.UTF_8);
        out.writeInt(bytes.length);
        out.write(bytes);
        out.write(payload);
        out.flush();
    }

    /** The next message, or null when the stream ended between messages. */
    static N2V_Message read(DataInputStream in) throws IOException {
        int length;
        try {
            length = in.readInt();
        } catch (EOFException end) {
            return null;
        }
        if (length < 0 || length > MAX_HEADER)
            throw new IOException("a message header of " + length + " bytes: the stream is not the N2V protocol");
        byte[] header = new byte[length];
        in.readFully(header);
        N2V_Message message = null;
        int size = 0;
        for (String line : new String(header, StandardCharsets.UTF_8).split("\n", -1)) {
            int equals = line.indexOf('=');
            if (equals < 0)
                throw new IOException("the header line '" + line + "' has no '='");
            String key = line.substring(0, equals), value = unescape(line.substring(equals + 1));
            if (message == null && key.equals("type"))
                message = new N2V_Message(value);
            else if (message == null)
                throw new IOException("a message header that does not start with its type");
            else if (key.equals("bytes"))
                size = Integer.parseInt(value);
            else
                message.values.put(key, value);
        }
        if (message == null)
            throw new IOException("an empty message header");
        message.payload = new byte[size];
        in.readFully(message.payload);
        return message;
    }

    private static String escape(String text) {
        return text.replace("\\", "\\\\").replace("\n", "\\n");
    }

    private static String unescape(String text) {
        if (text.indexOf('\\') < 0)
            return text;
        StringBuilder out = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '\\' && i + 1 < text.length()) {
                char next = text.charAt(++i);
                out.append(next == 'n' ? '\n' : next);
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }
}
